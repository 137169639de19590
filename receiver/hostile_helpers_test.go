//go:build hostile

package receiver_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/receiver"
)

// Files a shell would create if payload data ever reached one.
var canaries = []string{"C", "CANARY"}

// noCanary fails the test if a canary file exists under any of dirs.
func noCanary(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				for _, c := range canaries {
					if d.Name() == c {
						t.Errorf("canary created: %s", p)
					}
				}
			}
			return nil
		})
	}
}

// commits makes n commits on branch in one git fast-import run (the
// helpers' one commit per call would take minutes for a thousand) and
// returns their SHAs, oldest first. Commit i sets file n to i.
func commits(t *testing.T, up *gitsynctest.Upstream, branch string, n int) []string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		content := fmt.Sprint(i)
		fmt.Fprintf(&b, "commit refs/heads/%s\nmark :%d\ncommitter t <t@example.invalid> %d +0000\ndata 1\nc\n",
			branch, i+1, 1_700_000_000+i)
		if i > 0 {
			fmt.Fprintf(&b, "from :%d\n", i)
		}
		fmt.Fprintf(&b, "M 100644 inline n\ndata %d\n%s\n\n", len(content), content)
	}
	up.GitInput(t, b.String(), "fast-import", "--quiet")
	shas := strings.Fields(up.Git(t, "rev-list", "--reverse", "refs/heads/"+branch))
	if len(shas) < n {
		t.Fatalf("fast-import made %d commits, want %d", len(shas), n)
	}
	return shas[len(shas)-n:]
}

// serve runs the harness's settings and runner behind the real server of
// NewServerFor (the timeouts and header cap production uses), with the read
// timeouts given, and returns its address.
func (h *harness) serve(t *testing.T, readHeader, read time.Duration) string {
	t.Helper()
	set := *h.set
	set.HTTP.ReadHeaderTimeout, set.HTTP.ReadTimeout = readHeader, read
	log := zerolog.New(zerolog.SyncWriter(h.logs))
	srv := receiver.NewServerFor(&set, receiver.New(receiver.Options{Settings: &set, Jobs: h.rn, Logger: log}), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// noJobs fails the test if any job was recorded by the harness.
func (h *harness) noJobs(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.results) != 0 {
		t.Errorf("%d jobs ran, want none", len(h.results))
	}
}

// sendTo is h.send against another base URL.
func (h *harness) sendTo(base string, d delivery) answer {
	h.t.Helper()
	req := h.signed(d)
	u := *req.URL
	u.Host = strings.TrimPrefix(base, "http://")
	req.URL, req.Host = &u, u.Host
	return h.do(req)
}

// readIfExists reads a file, "" when it does not exist.
func readIfExists(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

// statusOK is true for 2xx.
func statusOK(code int) bool { return code >= http.StatusOK && code < http.StatusMultipleChoices }

func hmacSHA1Hex(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
