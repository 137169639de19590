package receiver

import (
	"encoding/hex"
	"net/http"
)

// precheck refuses, before the body is read, a delivery whose headers alone
// show it cannot verify: no signature header, a signature that is not a hex
// SHA-256, or (GitLab, whose token does not depend on the body) a wrong
// token. A caller without the secret then costs the daemon no body read. The
// reason is for the log, never for the answer; verify still checks all of it
// once the body is read.
func precheck(dialect, secret string, h http.Header) (reason string, ok bool) {
	return checkSignature(dialect, secret, h, hexSHA256)
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
