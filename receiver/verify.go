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
func verify(provider, secret string, h http.Header, body []byte) (reason string, ok bool) {
	if secret == "" { // settings refuse this; never let it mean "no check"
		return "no secret configured", false
	}
	switch provider {
	case settings.GitHub:
		got := h.Get("X-Hub-Signature-256")
		if got == "" {
			if h.Get("X-Hub-Signature") != "" {
				return "only a SHA-1 signature (X-Hub-Signature); SHA-256 is required", false
			}
			return "no X-Hub-Signature-256 header", false
		}
		hexSig, found := strings.CutPrefix(got, "sha256=")
		if !found {
			return "X-Hub-Signature-256 is not sha256=<hex>", false
		}
		return checkHMAC(secret, body, hexSig)
	case settings.Gogs:
		got := gogsHeader(h, "Signature")
		if got == "" {
			return "no X-Gogs-Signature (or X-Gitea-, X-Forgejo-) header", false
		}
		return checkHMAC(secret, body, got)
	case settings.GitLab:
		got := h.Get("X-Gitlab-Token")
		if got == "" {
			return "no X-Gitlab-Token header", false
		}
		// Compare digests so that the time taken says nothing of the length.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return "wrong X-Gitlab-Token", false
		}
		return "", true
	}
	return "unknown provider " + provider, false
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
