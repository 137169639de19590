package forgetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
)

// Hook is a notify target: an incoming webhook that records each
// message, checks its content type and, when Secret is set, its
// X-Wh-Gitd-Signature-256.
type Hook struct {
	URL    string
	Secret string
	// Hang, if set, holds every request until the client gives up.
	Hang bool

	mu    sync.Mutex
	calls []Call
}

// NewHook starts a notify target; it stops when the test ends.
func NewHook(t testing.TB, secret string) *Hook {
	h := &Hook{Secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hook"
	return h
}

// Calls returns the messages received so far.
func (h *Hook) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

func (h *Hook) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c := Call{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Code: http.StatusOK}
	if err := json.Unmarshal(raw, &c.Body); err != nil {
		c.Problems = append(c.Problems, "body is not a JSON object")
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		c.Problems = append(c.Problems, "want POST with Content-Type application/json")
	}
	if h.Secret != "" {
		m := hmac.New(sha256.New, []byte(h.Secret))
		m.Write(raw)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); r.Header.Get("X-Wh-Gitd-Signature-256") != want {
			c.Problems = append(c.Problems, "X-Wh-Gitd-Signature-256 is not the body's HMAC-SHA256")
		}
	}
	if h.Hang {
		c.Code = 0
	}
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
	if h.Hang {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(c.Code)
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
