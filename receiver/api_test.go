package receiver_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

const apiToken = "test-token-0123456789"

// apiRequest is an API request with token (none when "").
func (h *harness) apiRequest(method, path, token, body string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// apiCall sends an API request with token (none when "").
func (h *harness) apiCall(method, path, token, body string) testkit.Answer {
	h.t.Helper()
	return h.do(h.apiRequest(method, path, token, body))
}

// jobField is the record in the job field of a.
func jobField(t *testing.T, a testkit.Answer) job.Record {
	t.Helper()
	raw, _ := json.Marshal(a.Body["job"])
	var rec job.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("job field of %s: %v", a.Raw, err)
	}
	return rec
}

func TestAPIOffWithoutToken(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, path := range []string{"/api/jobs", "/api/jobs/x", "/api/nope"} {
		if a := h.apiCall(http.MethodGet, path, apiToken, ""); a.Code != http.StatusNotFound {
			t.Errorf("%s without api.token: %d %s, want 404", path, a.Code, a.Raw)
		}
	}
}

const gatedBranches = `      main:
        commands: ['echo $$ >> "$RELEASE.pids"; echo one; while [ ! -e "$RELEASE" ]; do sleep 0.02; done; echo two']
        env: {RELEASE: "%[1]s.release"}
      other:
        commands: ['echo other']`

func TestAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: 1, top: "api: {token: " + apiToken + "}\n", branches: gatedBranches})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	h.up.Commit(t, "other", map[string]string{"o": "1"}, "other")
	release := h.record("gh") + ".release"

	t.Run("auth", func(t *testing.T) {
		for name, tok := range map[string]string{"no token": "", "wrong token": "test-token-012345678X"} {
			a := h.apiCall(http.MethodGet, "/api/jobs", tok, "")
			if a.Code != http.StatusUnauthorized || strings.Contains(a.Raw, apiToken) {
				t.Errorf("%s: %d %s, want 401", name, a.Code, a.Raw)
			}
		}
	})
	// A delivery whose job blocks until released, and a manual trigger that waits behind it.
	first := h.push("gh", "main", testkit.ZeroSHA, c1)
	if first.Code != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", first.Code, first.Raw)
	}
	id := first.Str("job")
	waitJobState(t, h, id, job.Running)

	t.Run("follow sees lines in order as they are written", func(t *testing.T) {
		resp, err := http.DefaultClient.Do(h.apiRequest(http.MethodGet, "/api/jobs/"+id+"/log?follow=1", apiToken, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		var seen []string
		for !strings.HasSuffix(strings.Join(seen, ""), "one\n") {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended before the first line: %v %q", err, seen)
			}
			seen = append(seen, line)
		}
		testkit.Touch(t, release) // the second line is written only now
		rest, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(rest), " two\n") || !strings.Contains(string(rest), "succeeded") {
			t.Errorf("after release the stream said %q", rest)
		}
	})
	if r := h.wait(id); r.State != job.Succeeded {
		t.Fatalf("job %s: %s", r.State, r.Error)
	}
	t.Run("get, list, log", func(t *testing.T) {
		a := h.apiCall(http.MethodGet, "/api/jobs/"+id, apiToken, "")
		if rec := jobField(t, a); a.Code != 200 || rec.State != job.Succeeded || rec.Job.SHA != c1 ||
			rec.Job.Delivery == "" || len(rec.Commands) != 1 || rec.Started.IsZero() || rec.Finished.IsZero() {
			t.Errorf("GET job: %d %s", a.Code, a.Raw)
		}
		if a := h.apiCall(http.MethodGet, "/api/jobs/nope", apiToken, ""); a.Code != http.StatusNotFound {
			t.Errorf("unknown job: %d", a.Code)
		}
		list := h.apiCall(http.MethodGet, "/api/jobs?repo=gh&state=succeeded&limit=5", apiToken, "")
		if jobs, _ := list.Body["jobs"].([]any); list.Code != 200 || len(jobs) != 1 {
			t.Errorf("list: %d %s", list.Code, list.Raw)
		}
		for _, q := range []string{"limit=0", "limit=x", "state=bogus"} {
			if a := h.apiCall(http.MethodGet, "/api/jobs?"+q, apiToken, ""); a.Code != http.StatusBadRequest {
				t.Errorf("list ?%s: %d, want 400", q, a.Code)
			}
		}
		resp, err := http.DefaultClient.Do(h.apiRequest(http.MethodGet, "/api/jobs/"+id+"/log", apiToken, ""))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), " one\n") || !strings.Contains(string(b), " two\n") {
			t.Errorf("log: %q", b)
		}
	})
	t.Run("trigger", func(t *testing.T) {
		for _, tc := range []struct {
			path, body string
			code       int
		}{
			{"/api/repos/gh/trigger", `{"branch":"other"}`, http.StatusAccepted},
			{"/api/repos/gh/trigger?branch=other", "", http.StatusAccepted},
			{"/api/repos/gh/trigger", "", http.StatusBadRequest}, // several branches
			{"/api/repos/gh/trigger", `{"branch":"nope"}`, http.StatusBadRequest},
			{"/api/repos/gh/trigger", `{"branch":"other","sha":"xyz"}`, http.StatusBadRequest},
			{"/api/repos/gh/trigger", `{"bogus":1}`, http.StatusBadRequest},
			{"/api/repos/nope/trigger", `{"branch":"other"}`, http.StatusNotFound},
		} {
			a := h.apiCall(http.MethodPost, tc.path, apiToken, tc.body)
			if a.Code != tc.code {
				t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, a.Code, a.Raw, tc.code)
				continue
			}
			if a.Code == http.StatusAccepted {
				if r := h.wait(a.Str("job")); r.State != job.Succeeded || r.Job.Event != job.EventManual {
					t.Errorf("triggered job: %s %s: %s", r.Job.Event, r.State, r.Error)
				}
			}
		}
	})
	t.Run("cancel", func(t *testing.T) {
		_ = os.Remove(release)
		running := h.apiCall(http.MethodPost, "/api/repos/gh/trigger", apiToken, `{"branch":"main"}`)
		waitJobState(t, h, running.Str("job"), job.Running)
		queued := h.apiCall(http.MethodPost, "/api/repos/gh/trigger", apiToken, `{"branch":"other"}`)
		for _, j := range []string{queued.Str("job"), running.Str("job")} {
			if a := h.apiCall(http.MethodPost, "/api/jobs/"+j+"/cancel", apiToken, ""); a.Code != http.StatusOK {
				t.Fatalf("cancel %s: %d %s", j, a.Code, a.Raw)
			}
			if r := h.wait(j); r.State != job.Cancelled {
				t.Errorf("job %s ended %s, want cancelled", j, r.State)
			}
		}
		pids := strings.Fields(testkit.ReadFile(t, release+".pids"))
		if pid, _ := strconv.Atoi(pids[len(pids)-1]); testkit.Alive(pid) {
			t.Errorf("the cancelled job's command (pid %d) is still running", pid)
		}
		if a := h.apiCall(http.MethodPost, "/api/jobs/"+id+"/cancel", apiToken, ""); a.Code != http.StatusConflict {
			t.Errorf("cancel a finished job: %d, want 409", a.Code)
		}
		if a := h.apiCall(http.MethodPost, "/api/jobs/nope/cancel", apiToken, ""); a.Code != http.StatusNotFound {
			t.Errorf("cancel an unknown job: %d, want 404", a.Code)
		}
	})
}

// waitJobState waits until the store says job id is in state s.
func waitJobState(t *testing.T, h *harness, id string, s job.State) {
	t.Helper()
	testkit.Eventually(t, "job "+id+" to be "+string(s), testkit.Patience, func() bool {
		rec, err := h.rn.Get(id)
		return err == nil && rec.State == s
	})
}
