package receiver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/receiver"
)

// controlClient is an HTTP client that reaches the server on socket path.
func controlClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
}

// serveControl serves h's control handler on the control socket of a new
// state dir and returns a client for it and the socket's path.
func serveControl(t *testing.T, h *harness) (*http.Client, string) {
	t.Helper()
	dir := t.TempDir()
	ln, err := receiver.ListenControl(filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := receiver.NewServer("", h.handler.Control())
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return controlClient(filepath.Join(dir, "control.sock")), filepath.Join(dir, "control.sock")
}

// controlCall sends one request over the control socket and decodes the
// answer into out.
func controlCall(t *testing.T, c *http.Client, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://wh-gitd"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// The control socket serves the job API with no token, even with the HTTP
// API off, in the wire types the client decodes; nothing else is served on it.
func TestControlServesTheAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c, path := serveControl(t, h)
	h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("control socket: %v %v, want a socket of mode 0660", fi.Mode(), err)
	}
	var q job.Answer
	if code := controlCall(t, c, http.MethodPost, "/api/repos/gh/trigger", `{"by":"alice"}`, &q); code != http.StatusAccepted ||
		q.Status != job.StatusQueued || q.Job == "" {
		t.Fatalf("trigger: %d %+v", code, q)
	}
	if rec := h.wait(q.Job); rec.State != job.Succeeded || rec.Pusher != "alice" {
		t.Fatalf("triggered job: %s by %q: %s", rec.State, rec.Pusher, rec.Error)
	}
	var one struct {
		Status string
		Job    map[string]any
	}
	controlCall(t, c, http.MethodGet, "/api/jobs/"+q.Job, "", &one)
	if one.Status != "ok" || one.Job["id"] != q.Job || one.Job["state"] != "succeeded" || one.Job["job"] != nil {
		t.Errorf("one job's answer is not {status, job: <flat record>}: %+v", one)
	}
	var jobs job.JobsAnswer
	if code := controlCall(t, c, http.MethodGet, "/api/jobs?state=succeeded", "", &jobs); code != http.StatusOK ||
		jobs.Status != job.StatusOK || len(jobs.Jobs) != 1 || jobs.Jobs[0].ID != q.Job {
		t.Errorf("list: %d %+v", code, jobs)
	}
	for _, p := range []string{"/api/jobs?state=skipped", "/api/jobs?state=interrupted"} {
		if code := controlCall(t, c, http.MethodGet, p, "", &jobs); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", p, code)
		}
	}
	var e job.Answer
	if code := controlCall(t, c, http.MethodPost, "/api/jobs/"+q.Job+"/cancel", "", &e); code != http.StatusConflict ||
		e.Status != job.StatusError || e.Error == "" {
		t.Errorf("cancel a finished job: %d %+v", code, e)
	}
	if code := controlCall(t, c, http.MethodPost, "/hooks/gh", "{}", &e); code != http.StatusNotFound {
		t.Errorf("a webhook on the control socket: %d, want 404", code)
	}
	if a := h.apiCall(http.MethodGet, "/api/jobs", "", ""); a.Code != http.StatusNotFound {
		t.Errorf("the HTTP API without api.token: %d, want 404", a.Code)
	}
}

// A trigger's sha must be a full lowercase SHA-1.
func TestTriggerSHA(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c, _ := serveControl(t, h)
	sha := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	for _, tc := range []struct {
		sha  string
		code int
	}{
		{sha, http.StatusAccepted},
		{sha[:12], http.StatusBadRequest},
		{strings.ToUpper(sha), http.StatusBadRequest},
		{sha + sha[:24], http.StatusBadRequest}, // 64 digits: not a SHA-1
	} {
		var a job.Answer
		if code := controlCall(t, c, http.MethodPost, "/api/repos/gh/trigger", `{"sha":"`+tc.sha+`"}`, &a); code != tc.code {
			t.Errorf("sha %s: %d %+v, want %d", tc.sha, code, a, tc.code)
		} else if code == http.StatusAccepted {
			h.wait(a.Job)
		}
	}
}

func TestListenControl(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t testing.TB, path string)
		err     string
		kept    bool // the file in the way is still there
	}{
		{"no file", func(testing.TB, string) {}, "", false},
		{"stale socket", testkit.StaleSocket, "", false},
		{"live socket", liveSocket, "another wh-gitd answers on the control socket", false},
		{"held socket nobody serves", func(t testing.TB, path string) { heldSocket(t, path) }, "", false},
		{"regular file", func(t testing.TB, path string) { testkit.WriteFile(t, path, "keep") },
			"is in the way and is not a socket", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "control.sock")
			tc.prepare(t, path)
			ln, err := receiver.ListenControl(filepath.Join(dir, "control.sock"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if tc.kept && testkit.ReadIfExists(path) != "keep" {
					t.Error("the file in the way was changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
				t.Errorf("mode %v %v, want 0660", fi.Mode(), err)
			}
			ln.Close()
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the socket file outlives the listener: %v", err)
			}
		})
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	if _, err := receiver.ListenControl(filepath.Join(long, "control.sock")); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a state dir too long for a socket path: %v", err)
	}
}

// liveSocket serves HTTP on path, as a running daemon does.
func liveSocket(t testing.TB, path string) {
	ln := heldSocket(t, path)
	go http.Serve(ln, http.NotFoundHandler())
}

// heldSocket listens on path and never accepts: a listening socket whose
// file descriptor outlived its daemon.
func heldSocket(t testing.TB, path string) net.Listener {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
