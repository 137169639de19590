package receiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// errUnauthorized is the only thing a caller with a bad signature learns.
var errUnauthorized = errors.New("missing or invalid signature")

// verify checks a delivery's signature or token over the raw body, in
// constant time, before anything of the body is decoded. The reason it
// returns is for the daemon's log, never for the answer.
func verify(dialect, secret string, h http.Header, body []byte) (reason string, ok bool) {
	if secret == "" { // settings refuse this; never let it mean "no check"
		return "no secret configured", false
	}
	return checkSignature(dialect, secret, h, func(sig string) (string, bool) { return checkHMAC(secret, body, sig) })
}

// checkSignature finds the signature of a delivery of dialect in h and
// checks it: GitLab's token against the secret, an HMAC with hmacCheck.
func checkSignature(dialect, secret string, h http.Header, hmacCheck func(sig string) (string, bool)) (string, bool) {
	sig, reason := signature(dialect, h)
	switch {
	case reason != "":
		return reason, false
	case dialect == settings.GitLab:
		return checkToken(secret, sig)
	}
	return hmacCheck(sig)
}

// signature is what a delivery of dialect carries to prove its origin: the
// hex HMAC-SHA256 of the body (GitHub, Gogs) or the token (GitLab); or why
// it carries nothing usable.
func signature(dialect string, h http.Header) (sig, reason string) {
	switch dialect {
	case settings.GitHub:
		got := h.Get("X-Hub-Signature-256")
		if got == "" {
			if h.Get("X-Hub-Signature") != "" {
				return "", "only a SHA-1 signature (X-Hub-Signature); SHA-256 is required"
			}
			return "", "no X-Hub-Signature-256 header"
		}
		hexSig, found := strings.CutPrefix(got, "sha256=")
		if !found {
			return "", "X-Hub-Signature-256 is not sha256=<hex>"
		}
		return hexSig, ""
	case settings.Gogs:
		if got := gogsHeader(h, "Signature"); got != "" {
			return got, ""
		}
		return "", "no X-Gogs-Signature (or X-Gitea-, X-Forgejo-) header"
	case settings.GitLab:
		if got := h.Get("X-Gitlab-Token"); got != "" {
			return got, ""
		}
		return "", "no X-Gitlab-Token header"
	}
	return "", "unknown provider " + dialect
}

// checkToken compares a GitLab token with the secret. Digests are compared
// so that the time taken says nothing of the length.
func checkToken(secret, got string) (string, bool) {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return "wrong X-Gitlab-Token", false
	}
	return "", true
}

// gogsHeader reads header X-Gogs-<name> of the Gogs dialect, or the same
// header under Gitea's or Forgejo's prefix: Gitea sends X-Gitea-* (and
// X-Gogs-*), Forgejo X-Forgejo-* (and, depending on the version, the other
// two), always with the same value.
func gogsHeader(h http.Header, name string) string {
	for _, prefix := range []string{"X-Gogs-", "X-Gitea-", "X-Forgejo-"} {
		if v := h.Get(prefix + name); v != "" {
			return v
		}
	}
	return ""
}

func checkHMAC(secret string, body []byte, hexSig string) (string, bool) {
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return "signature is not a hex SHA-256", false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), got) {
		return "signature does not match the body", false
	}
	return "", true
}
