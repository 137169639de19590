package receiver_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// Every row of the answer table that a single request can show.
func TestAnswers(t *testing.T) {
	h := newHarness(t, harnessOpts{maxBody: 64 << 10})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	good := pushBody(t, "gh", "main", testkit.ZeroSHA, c1)
	big := append(append([]byte{'{'}, bytes.Repeat([]byte{' '}, 65<<10-2)...), '}')
	push := func(set map[string]any) []byte {
		return testkit.Payload(t, "", "github/push-branch.json", set)
	}
	del := func(header string) func(r *http.Request) { return func(r *http.Request) { r.Header.Del(header) } }
	cases := []struct {
		name     string
		endpoint string
		d        testkit.Delivery // the body is good unless given
		edit     func(r *http.Request)
		code     int
		status   string
	}{
		{"unknown endpoint", "gh", testkit.Delivery{}, func(r *http.Request) { r.URL.Path = "/hooks/nope" },
			http.StatusNotFound, "error"},
		{"GET", "gh", testkit.Delivery{}, func(r *http.Request) { r.Method = http.MethodGet },
			http.StatusMethodNotAllowed, "error"},
		{"text/plain", "gh", testkit.Delivery{}, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			http.StatusUnsupportedMediaType, "error"},
		{"form-encoded", "gh", testkit.Delivery{Body: []byte("payload=" + string(good))}, func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, http.StatusUnsupportedMediaType, "error"},
		{"body over the cap", "gh", testkit.Delivery{Body: big}, nil, http.StatusRequestEntityTooLarge, "error"},
		{"body over the cap, chunked", "gh", testkit.Delivery{Body: big}, func(r *http.Request) { r.ContentLength = -1 },
			http.StatusRequestEntityTooLarge, "error"},
		{"signature with one byte flipped", "gh", testkit.Delivery{}, func(r *http.Request) {
			sig := []byte(r.Header.Get("X-Hub-Signature-256"))
			sig[len(sig)-1] ^= 1
			r.Header.Set("X-Hub-Signature-256", string(sig))
		}, http.StatusUnauthorized, "error"},
		{"no signature", "gh", testkit.Delivery{}, del("X-Hub-Signature-256"), http.StatusUnauthorized, "error"},
		{"SHA-1 signature only", "gh", testkit.Delivery{Header: http.Header{"X-Hub-Signature": {"sha1=0123456789012345678901234567890123456789"}}},
			del("X-Hub-Signature-256"), http.StatusUnauthorized, "error"},
		{"unsigned ping", "gh", testkit.Delivery{Event: "ping", Body: []byte(`{"zen":"x"}`)}, del("X-Hub-Signature-256"),
			http.StatusUnauthorized, "error"},
		{"secret of another endpoint", "gh", testkit.Delivery{Secret: endpoints["gg"].secret}, nil, http.StatusUnauthorized, "error"},
		{"GitLab token wrong", "gl", testkit.Delivery{Body: pushBody(t, "gl", "main", testkit.ZeroSHA, c1), Secret: "gl-tokex"}, nil,
			http.StatusUnauthorized, "error"},
		{"GitLab token missing", "gl", testkit.Delivery{Body: pushBody(t, "gl", "main", testkit.ZeroSHA, c1)}, del("X-Gitlab-Token"),
			http.StatusUnauthorized, "error"},
		{"Gogs signature of another body", "gg", testkit.Delivery{Body: pushBody(t, "gg", "main", testkit.ZeroSHA, c1),
			Header: http.Header{"X-Gogs-Signature": {testkit.HMACHex("gogs-secret-0123456789", good)}}}, nil,
			http.StatusUnauthorized, "error"},
		{"malformed JSON", "gh", testkit.Delivery{Body: []byte(`{"ref":`)}, nil, http.StatusBadRequest, "error"},
		{"push without ref", "gh", testkit.Delivery{Body: push(map[string]any{"ref": nil, "repository.full_name": "acme/site"})}, nil,
			http.StatusBadRequest, "error"},
		{"no event header", "gh", testkit.Delivery{}, del("X-GitHub-Event"), http.StatusBadRequest, "error"},
		{"another repository", "gh", testkit.Delivery{Body: push(map[string]any{"ref": "refs/heads/main", "after": c1,
			"repository.full_name": "acme/other"})}, nil, http.StatusForbidden, "error"},
		{"repository path traversal", "gh", testkit.Delivery{Body: push(map[string]any{"ref": "refs/heads/main", "after": c1,
			"repository.full_name": "../../etc"})}, nil, http.StatusForbidden, "error"},
		{"another endpoint's repository", "gh", testkit.Delivery{Body: push(map[string]any{"ref": "refs/heads/main", "after": c1,
			"repository.full_name": "group/site"})}, nil, http.StatusForbidden, "error"},
		{"unconfigured branch", "gh", testkit.Delivery{Body: pushBody(t, "gh", "dev", testkit.ZeroSHA, c1)}, nil, http.StatusOK, "ignored"},
		{"unhandled event", "gh", testkit.Delivery{Event: "issues", Body: []byte(`{}`)}, nil, http.StatusOK, "ignored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.d.Body == nil {
				tc.d.Body = good
			}
			a := h.sendEdited(tc.endpoint, tc.d, tc.edit)
			if a.Code != tc.code || a.Str("status") != tc.status {
				t.Fatalf("answer %d %s, want %d %s", a.Code, a.Raw, tc.code, tc.status)
			}
			if tc.code == http.StatusMethodNotAllowed && a.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", a.Header.Get("Allow"))
			}
			if tc.code == http.StatusUnauthorized {
				for _, secret := range []string{"gh-secret-0123456789", "gl-token-0123456789", "gogs-secret-0123456789", testkit.HMACHex("gh-secret-0123456789", good)} {
					if strings.Contains(a.Raw, secret) {
						t.Errorf("401 answer reveals %q", secret)
					}
				}
			}
		})
	}
	h.noJobs(t)
}

// gate is a command that says it started, then waits until released.
const gateBranches = `      main:
        commands: ['touch "$STARTED"; while [ ! -e "$RELEASE" ]; do sleep 0.02; done; echo "$WH_SHA" >> "$REC"']
        env: {REC: "%[1]s", STARTED: "%[1]s.started", RELEASE: "%[1]s.release"}
      other:
        commands: ['echo "$WH_SHA" >> "$REC"']
        env: {REC: "%[1]s"}`

// queued, supersedes, duplicate and queue full: the rows that need a job
// running and one waiting.
func TestQueueAnswers(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: 1, queue: 1, branches: gateBranches})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	rec := h.record("gh")

	a1 := h.push("gh", "main", testkit.ZeroSHA, c1)
	if a1.Code != http.StatusAccepted || a1.Str("supersedes") != "" {
		t.Fatalf("first: %d %s", a1.Code, a1.Raw)
	}
	testkit.WaitFile(t, rec+".started")
	// Pushed while the first job runs: it deployed c1, the tip it fetched.
	c2 := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	c3 := h.up.Commit(t, "main", map[string]string{"a": "3"}, "three")
	a2 := h.push("gh", "main", c1, c2)
	if a2.Code != http.StatusAccepted || a2.Str("status") != "queued" || a2.Str("supersedes") != "" {
		t.Fatalf("second: %d %s", a2.Code, a2.Raw)
	}
	a3 := h.send("gh", testkit.Delivery{Body: pushBody(t, "gh", "main", c2, c3), ID: "third"})
	if a3.Code != http.StatusAccepted || a3.Str("supersedes") != a2.Str("job") {
		t.Fatalf("third: %d %s, want supersedes %s", a3.Code, a3.Raw, a2.Str("job"))
	}
	full := h.push("gh", "other", testkit.ZeroSHA, c1)
	if full.Code != http.StatusServiceUnavailable || full.Header.Get("Retry-After") == "" {
		t.Fatalf("queue full: %d %s (Retry-After %q)", full.Code, full.Raw, full.Header.Get("Retry-After"))
	}
	dup := h.send("gh", testkit.Delivery{Body: pushBody(t, "gh", "main", c2, c3), ID: "third"})
	if dup.Code != http.StatusOK || dup.Str("status") != "duplicate" || dup.Str("job") != a3.Str("job") {
		t.Fatalf("duplicate: %d %s", dup.Code, dup.Raw)
	}
	testkit.Touch(t, rec+".release")
	if r := h.wait(a1.Str("job")); r.State != job.Succeeded {
		t.Fatalf("first job %s: %s", r.State, r.Error)
	}
	if r := h.wait(a2.Str("job")); r.State != job.Superseded || r.SupersededBy != a3.Str("job") {
		t.Fatalf("second job %s by %q", r.State, r.SupersededBy)
	}
	if r := h.wait(a3.Str("job")); r.State != job.Succeeded {
		t.Fatalf("third job %s: %s", r.State, r.Error)
	}
	if got, want := testkit.ReadFile(t, rec), c1+"\n"+c3+"\n"; got != want {
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
	prev := testkit.ZeroSHA
	for _, sha := range shas {
		a := h.push("gh", "main", prev, sha)
		if a.Code != http.StatusAccepted {
			t.Fatalf("answer %d %s", a.Code, a.Raw)
		}
		ids = append(ids, a.Str("job"))
		prev = sha
	}
	testkit.Touch(t, h.record("gh")+".release")
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
	if got := testkit.Head(t, h.workCopy("gh")); got != shas[19] {
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
		a := h.push("gh", n, testkit.ZeroSHA, sha)
		if a.Code != http.StatusAccepted {
			t.Fatalf("%q: answer %d %s", n, a.Code, a.Raw)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := h.wait(a.Str("job")); r.State != job.Succeeded {
				t.Errorf("%q: job %s: %s", n, r.State, r.Error)
			}
		}()
	}
	wg.Wait()
	rec := testkit.ReadFile(t, h.record("gh"))
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
