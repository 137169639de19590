package receiver_test

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// Every row of the answer table that a single request can show.
func TestAnswers(t *testing.T) {
	h := newHarness(t, harnessOpts{maxBody: 64 << 10})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	good := pushBody(t, "gh", "main", zeroSHA, c1)
	big := make([]byte, 65<<10)
	for i := range big {
		big[i] = ' '
	}
	big[0] = '{'
	big[len(big)-1] = '}'

	cases := []struct {
		name   string
		req    func() *http.Request
		code   int
		status string
	}{
		{"unknown endpoint", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.URL.Path = "/hooks/nope"
			return r
		}, http.StatusNotFound, "error"},
		{"GET", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.Method = http.MethodGet
			return r
		}, http.StatusMethodNotAllowed, "error"},
		{"text/plain", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, http.StatusUnsupportedMediaType, "error"},
		{"form-encoded", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: []byte("payload=" + string(good))})
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusUnsupportedMediaType, "error"},
		{"body over the cap", func() *http.Request { return h.signed(delivery{endpoint: "gh", body: big}) },
			http.StatusRequestEntityTooLarge, "error"},
		{"body over the cap, chunked", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: big})
			r.ContentLength = -1
			return r
		}, http.StatusRequestEntityTooLarge, "error"},
		{"signature with one byte flipped", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			sig := []byte(r.Header.Get("X-Hub-Signature-256"))
			sig[len(sig)-1] ^= 1
			r.Header.Set("X-Hub-Signature-256", string(sig))
			return r
		}, http.StatusUnauthorized, "error"},
		{"no signature", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.Header.Del("X-Hub-Signature-256")
			return r
		}, http.StatusUnauthorized, "error"},
		{"SHA-1 signature only", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.Header.Del("X-Hub-Signature-256")
			r.Header.Set("X-Hub-Signature", "sha1=0123456789012345678901234567890123456789")
			return r
		}, http.StatusUnauthorized, "error"},
		{"unsigned ping", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", event: "ping", body: []byte(`{"zen":"x"}`)})
			r.Header.Del("X-Hub-Signature-256")
			return r
		}, http.StatusUnauthorized, "error"},
		{"secret of another endpoint", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: good, secret: endpoints["gg"].secret})
		}, http.StatusUnauthorized, "error"},
		{"GitLab token wrong", func() *http.Request {
			return h.signed(delivery{endpoint: "gl", body: pushBody(t, "gl", "main", zeroSHA, c1), secret: "gl-tokex"})
		}, http.StatusUnauthorized, "error"},
		{"GitLab token missing", func() *http.Request {
			r := h.signed(delivery{endpoint: "gl", body: pushBody(t, "gl", "main", zeroSHA, c1)})
			r.Header.Del("X-Gitlab-Token")
			return r
		}, http.StatusUnauthorized, "error"},
		{"Gogs signature of another body", func() *http.Request {
			r := h.signed(delivery{endpoint: "gg", body: pushBody(t, "gg", "main", zeroSHA, c1)})
			r.Header.Set("X-Gogs-Signature", hmacHex("gogs-secret-0123456789", good))
			return r
		}, http.StatusUnauthorized, "error"},
		{"malformed JSON", func() *http.Request { return h.signed(delivery{endpoint: "gh", body: []byte(`{"ref":`)}) },
			http.StatusBadRequest, "error"},
		{"push without ref", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: payload(t, "github/push-branch.json",
				map[string]any{"ref": nil, "repository.full_name": "acme/site"})})
		}, http.StatusBadRequest, "error"},
		{"no event header", func() *http.Request {
			r := h.signed(delivery{endpoint: "gh", body: good})
			r.Header.Del("X-GitHub-Event")
			return r
		}, http.StatusBadRequest, "error"},
		{"another repository", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: payload(t, "github/push-branch.json",
				map[string]any{"ref": "refs/heads/main", "after": c1, "repository.full_name": "acme/other"})})
		}, http.StatusForbidden, "error"},
		{"repository path traversal", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: payload(t, "github/push-branch.json",
				map[string]any{"ref": "refs/heads/main", "after": c1, "repository.full_name": "../../etc"})})
		}, http.StatusForbidden, "error"},
		{"another endpoint's repository", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: payload(t, "github/push-branch.json",
				map[string]any{"ref": "refs/heads/main", "after": c1, "repository.full_name": "group/site"})})
		}, http.StatusForbidden, "error"},
		{"unconfigured branch", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", body: pushBody(t, "gh", "dev", zeroSHA, c1)})
		}, http.StatusOK, "ignored"},
		{"unhandled event", func() *http.Request {
			return h.signed(delivery{endpoint: "gh", event: "issues", body: []byte(`{}`)})
		}, http.StatusOK, "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do(tc.req())
			if a.code != tc.code || a.str("status") != tc.status {
				t.Fatalf("answer %d %s, want %d %s", a.code, a.raw, tc.code, tc.status)
			}
			if tc.code == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", a.header.Get("Allow"))
			}
			if tc.code == http.StatusUnauthorized {
				for _, secret := range []string{"gh-secret-0123456789", "gl-token-0123456789", "gogs-secret-0123456789", hmacHex("gh-secret-0123456789", good)} {
					if strings.Contains(a.raw, secret) {
						t.Errorf("401 answer reveals %q", secret)
					}
				}
			}
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.results) != 0 {
		t.Errorf("%d jobs ran for refused or ignored deliveries", len(h.results))
	}
}

// gate is a command that says it started, then waits until released.
const gateBranches = `      main:
        commands: ['touch "$STARTED"; while [ ! -e "$RELEASE" ]; do sleep 0.02; done; echo "$WH_SHA" >> "$REC"']
        env: {REC: "%[1]s", STARTED: "%[1]s.started", RELEASE: "%[1]s.release"}
      other:
        commands: ['echo "$WH_SHA" >> "$REC"']
        env: {REC: "%[1]s"}`

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// queued, supersedes, duplicate and queue full: the rows that need a job
// running and one waiting.
func TestQueueAnswers(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: 1, queue: 1, branches: gateBranches})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	rec := h.record("gh")

	a1 := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "main", zeroSHA, c1)})
	if a1.code != http.StatusAccepted || a1.str("supersedes") != "" {
		t.Fatalf("first: %d %s", a1.code, a1.raw)
	}
	waitFile(t, rec+".started")
	// Pushed while the first job runs: it deployed c1, the tip it fetched.
	c2 := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	c3 := h.up.Commit(t, "main", map[string]string{"a": "3"}, "three")
	a2 := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "main", c1, c2)})
	if a2.code != http.StatusAccepted || a2.str("status") != "queued" || a2.str("supersedes") != "" {
		t.Fatalf("second: %d %s", a2.code, a2.raw)
	}
	a3 := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "main", c2, c3), id: "third"})
	if a3.code != http.StatusAccepted || a3.str("supersedes") != a2.str("job") {
		t.Fatalf("third: %d %s, want supersedes %s", a3.code, a3.raw, a2.str("job"))
	}
	full := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "other", zeroSHA, c1)})
	if full.code != http.StatusServiceUnavailable || full.header.Get("Retry-After") == "" {
		t.Fatalf("queue full: %d %s (Retry-After %q)", full.code, full.raw, full.header.Get("Retry-After"))
	}
	dup := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "main", c2, c3), id: "third"})
	if dup.code != http.StatusOK || dup.str("status") != "duplicate" || dup.str("job") != a3.str("job") {
		t.Fatalf("duplicate: %d %s", dup.code, dup.raw)
	}
	touch(t, rec+".release")
	if r := h.wait(a1.str("job")); r.State != job.Succeeded {
		t.Fatalf("first job %s: %s", r.State, r.Error)
	}
	if r := h.wait(a2.str("job")); r.State != job.Superseded || r.SupersededBy != a3.str("job") {
		t.Fatalf("second job %s by %q", r.State, r.SupersededBy)
	}
	if r := h.wait(a3.str("job")); r.State != job.Succeeded {
		t.Fatalf("third job %s: %s", r.State, r.Error)
	}
	if got, want := readFile(t, rec), c1+"\n"+c3+"\n"; got != want {
		t.Errorf("runs recorded %q, want %q", got, want)
	}
}

// Twenty pushes in a burst: all answered 2xx, at most two runs, every
// accepted job accounted for, the last commit deployed.
func TestBurstCoalesces(t *testing.T) {
	// The command waits until the burst is sent, so that a slow machine
	// cannot finish a run between two pushes.
	h := newHarness(t, harnessOpts{branches: "      main:\n        commands: ['while [ ! -e \"$REC.release\" ]; do sleep 0.02; done; echo \"$WH_SHA\" >> \"$REC\"']\n        env: {REC: \"%[1]s\"}"})
	var shas []string
	for i := range 20 {
		shas = append(shas, h.up.Commit(t, "main", map[string]string{"n": fmt.Sprint(i)}, "burst"))
	}
	var ids []string
	prev := zeroSHA
	for _, sha := range shas {
		a := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", "main", prev, sha)})
		if a.code != http.StatusAccepted {
			t.Fatalf("answer %d %s", a.code, a.raw)
		}
		ids = append(ids, a.str("job"))
		prev = sha
	}
	touch(t, h.record("gh")+".release")
	// The first job deployed the branch's tip, the last push, when it ran;
	// the last job, which replaced every other waiting one, finds that tip
	// deployed and runs nothing.
	last := h.wait(ids[len(ids)-1])
	if last.State != job.Skipped || last.Deployed != shas[19] {
		t.Fatalf("last job %s at %s: %s; want skipped at %s", last.State, last.Deployed, last.Error, shas[19])
	}
	if first := h.wait(ids[0]); first.State != job.Succeeded || first.Deployed != shas[19] {
		t.Fatalf("first job %s at %s: %s; want succeeded at the tip %s", first.State, first.Deployed, first.Error, shas[19])
	}
	ran := h.runs(t, ids)
	if ran != 1 {
		t.Errorf("%d runs for a burst of 20, want 1", ran)
	}
	if got := head(t, h.workCopy("gh")); got != shas[19] {
		t.Errorf("working copy at %s, want the last push %s", got, shas[19])
	}
}

// Branch names that are shell syntax, configured and pushed, reach commands
// only as data: the canary is never created. Git refuses spaces in ref
// names, so the commands are spelt with ${IFS}, as an attacker would.
func TestBranchNamesNeverReachAShell(t *testing.T) {
	names := []string{"x$(touch${IFS}CANARY)", "x`touch${IFS}CANARY`", "x;touch${IFS}CANARY",
		"x|touch${IFS}CANARY", "x&touch${IFS}CANARY", "-rf", "--upload-pack=touch${IFS}CANARY"}
	var branches strings.Builder
	for _, n := range names {
		fmt.Fprintf(&branches, "      %q:\n        commands: ['echo \"$WH_BRANCH\" >> \"$REC\"', ['echo', '%s']]\n        env: {REC: \"%%[1]s\"}\n", n, "ok")
	}
	h := newHarness(t, harnessOpts{branches: strings.TrimRight(branches.String(), "\n")})
	var wg sync.WaitGroup
	for _, n := range names {
		sha := h.up.Commit(t, n, map[string]string{"f": n}, "evil")
		a := h.send(delivery{endpoint: "gh", body: pushBody(t, "gh", n, zeroSHA, sha)})
		if a.code != http.StatusAccepted {
			t.Fatalf("%q: answer %d %s", n, a.code, a.raw)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := h.wait(a.str("job")); r.State != job.Succeeded {
				t.Errorf("%q: job %s: %s", n, r.State, r.Error)
			}
		}()
	}
	wg.Wait()
	rec := readFile(t, h.record("gh"))
	for _, n := range names {
		if !strings.Contains(rec, n+"\n") {
			t.Errorf("WH_BRANCH %q not seen by the command:\n%s", n, rec)
		}
	}
	_ = filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "CANARY") {
			t.Errorf("canary created: %s", p)
		}
		return nil
	})
	if _, err := os.Stat("CANARY"); err == nil {
		t.Error("canary created in the test's folder")
	}
}
