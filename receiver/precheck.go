package receiver

import (
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// precheck refuses, before the body is read, a delivery whose headers alone
// show it cannot verify: no signature header, a signature that is not a hex
// SHA-256, or (GitLab, whose token does not depend on the body) a wrong
// token. A caller without the secret then costs the daemon no body read. The
// reason is for the log, never for the answer; verify still checks all of it
// once the body is read.
func precheck(provider, secret string, h http.Header) (reason string, ok bool) {
	switch provider {
	case settings.GitHub:
		got := h.Get("X-Hub-Signature-256")
		if got == "" {
			return verify(provider, secret, h, nil)
		}
		hexSig, found := strings.CutPrefix(got, "sha256=")
		if !found {
			return "X-Hub-Signature-256 is not sha256=<hex>", false
		}
		return hexSHA256(hexSig)
	case settings.Gogs:
		got := gogsHeader(h, "Signature")
		if got == "" {
			return "no X-Gogs-Signature (or X-Gitea-, X-Forgejo-) header", false
		}
		return hexSHA256(got)
	case settings.GitLab:
		return verify(provider, secret, h, nil)
	}
	return "unknown provider " + provider, false
}

// hexSHA256 checks the shape of a hex signature, not its value.
func hexSHA256(s string) (string, bool) {
	if len(s) != hex.EncodedLen(32) {
		return "signature is not a hex SHA-256", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "signature is not a hex SHA-256", false
	}
	return "", true
}
