package receiver_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Secrets and repositories of the endpoints every harness configures.
var endpoints = map[string]struct{ provider, repository, secret string }{
	"gh": {settings.GitHub, "acme/site", "gh-secret-0123456789"},
	"gl": {settings.GitLab, "group/site", "gl-token-0123456789"},
	"gg": {settings.Gogs, "tester/demo", "gogs-secret-0123456789"},
	"gt": {settings.Gitea, "example/example", "gitea-secret-0123456789"},
	"fj": {settings.Forgejo, "example/forgejo", "forgejo-secret-0123456789"},
}

// forges are the endpoints of the three dialects: GitHub, GitLab and Gogs.
var forges = []string{"gh", "gl", "gg"}

// harness is the real handler on httptest, a real runner with real gitsync,
// and a real upstream repository.
type harness struct {
	t       testing.TB
	dir     string
	up      *gitsynctest.Upstream
	set     *settings.Settings
	rn      *runner.Runner
	store   *jobstore.Store
	handler *receiver.Handler
	url     string
	logs    *bytes.Buffer

	mu      sync.Mutex
	results map[string]job.Record // by job id, once finished
}

type harnessOpts struct {
	remote  string // "path" (default) or "http"
	workers int
	queue   int
	maxBody int
	// branches is the YAML of each endpoint's branches: block; %[1]s is the
	// record file of the endpoint.
	branches string
	// extra is YAML added to each endpoint, at the entry's indentation
	// (four spaces); %[1]s is the record file of the endpoint.
	extra string
	// top is YAML added at the top level.
	top string
	// repos, when set, are the entries in place of the endpoints; one
	// without a remote fetches the harness's upstream.
	repos []testkit.Repo
	// quiet logs warnings only (benchmarks).
	quiet bool
}

const recordCommands = `
        commands:
          - 'echo "$WH_PROVIDER|$WH_EVENT|$WH_REF|$WH_BRANCH|$WH_SHA|$WH_BEFORE|$WH_DELIVERY|$WH_REPO|$WH_ENVIRONMENT|$WH_JOB" >> "$REC"'
          - ["sh", "-c", "echo second >> \"$REC\""]
        env: {REC: "%[1]s"}`

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), up: gitsynctest.NewUpstream(t), results: map[string]job.Record{},
		logs: &bytes.Buffer{}}
	remote := h.up.Path()
	if o.remote == "http" {
		remote = h.up.ServeHTTP(t)
	}
	h.set = o.file(h.record, remote).Load(t, h.dir)
	log := zerolog.New(zerolog.SyncWriter(h.logs)).Level(zerolog.DebugLevel)
	if o.quiet {
		log = log.Level(zerolog.WarnLevel)
	}
	store, err := jobstore.Open(h.set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	h.rn = runner.New(runner.Options{Settings: h.set, Syncer: gitsyncer.New(log), Store: store, Logger: log, OnDone: h.done})
	h.handler = receiver.New(receiver.Options{Settings: h.set, Jobs: h.rn, Logger: log})
	srv := httptest.NewServer(h.handler)
	h.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.rn.Close(ctx)
		_ = h.store.Close()
		h.noSecretInLogs()
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
	return h
}

// file is the settings file of o, whose entries fetch remote; record
// names the record file of an endpoint.
func (o harnessOpts) file(record func(string) string, remote string) testkit.File {
	level := "debug"
	if o.quiet {
		level = "warn"
	}
	top := fmt.Sprintf("workers: %d\nqueue_size: %d\nkill_grace: 1s\nlog: {level: %s}\n",
		cmp.Or(o.workers, 2), cmp.Or(o.queue, 64), level)
	if o.maxBody > 0 {
		top += fmt.Sprintf("max_body_bytes: %d\n", o.maxBody)
	}
	repos := append([]testkit.Repo(nil), o.repos...)
	if repos == nil {
		branches := cmp.Or(o.branches, "      main:"+recordCommands)
		for name, e := range endpoints {
			rec := strings.NewReplacer("%[1]s", record(name))
			repos = append(repos, testkit.Repo{Name: name, Provider: e.provider, Repository: e.repository,
				Secret: e.secret, Extra: "    shared_path: true\n" + rec.Replace(o.extra),
				BranchesYAML: rec.Replace(branches)})
		}
	}
	for i := range repos {
		repos[i].Remote = cmp.Or(repos[i].Remote, remote)
	}
	return testkit.File{Top: top + o.top, Repos: repos}
}

// noSecretInLogs fails the test if a secret reached the daemon's log or a
// job's log.
func (h *harness) noSecretInLogs() {
	logs := h.logs.String()
	jobLogs, _ := filepath.Glob(filepath.Join(h.set.StateDir, "jobs", "*.log"))
	for _, f := range jobLogs {
		logs += testkit.ReadIfExists(f)
	}
	for _, e := range endpoints {
		if strings.Contains(logs, e.secret) {
			h.t.Errorf("secret %q appears in a log", e.secret)
		}
	}
}

// runs waits for every job of ids and returns how many ran to success; each
// of the others must have been superseded.
func (h *harness) runs(t testing.TB, ids []string) int {
	t.Helper()
	ran := 0
	for _, id := range ids {
		switch r := h.wait(id); r.State {
		case job.Succeeded:
			ran++
		case job.Superseded, job.Skipped:
		default:
			t.Errorf("job %s ended %s: %s", id, r.State, r.Error)
		}
	}
	return ran
}

// jobCount is how many job records the store holds.
func (h *harness) jobCount() int {
	recs, err := h.store.List(job.Filter{Limit: 1 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(recs)
}

func (h *harness) record(name string) string { return filepath.Join(h.dir, "rec-"+name) }

func (h *harness) workCopy(name string) string { return h.set.Repos[name].Path }

func (h *harness) done(r job.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results[r.Job.ID] = r
}

// finished is how many jobs have finished.
func (h *harness) finished() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.results)
}

// noJobs fails the test if any job finished.
func (h *harness) noJobs(t testing.TB) {
	t.Helper()
	if n := h.finished(); n != 0 {
		t.Errorf("%d jobs ran, want none", n)
	}
}

// wait returns the result of job id, failing the test after
// testkit.Patience.
func (h *harness) wait(id string) job.Record {
	h.t.Helper()
	var r job.Record
	testkit.Eventually(h.t, "job "+id+" to finish", testkit.Patience, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		var ok bool
		r, ok = h.results[id]
		return ok
	})
	return r
}

// signed is the request the forge of endpoint name sends for d: the
// provider, the URL and, unless d names one, the secret are the
// endpoint's.
func (h *harness) signed(name string, d testkit.Delivery) *http.Request {
	h.t.Helper()
	e := endpoints[name]
	d.Provider, d.URL, d.Secret = e.provider, h.url+"/hooks/"+name, cmp.Or(d.Secret, e.secret)
	return d.Request(h.t)
}

// do sends req; its answer must be a JSON object with a status.
func (h *harness) do(req *http.Request) testkit.Answer {
	h.t.Helper()
	a := testkit.MustDo(h.t, req)
	if _, ok := a.Body["status"]; !ok {
		h.t.Fatalf("answer %d has no status: %q", a.Code, a.Raw)
	}
	return a
}

func (h *harness) send(name string, d testkit.Delivery) testkit.Answer {
	h.t.Helper()
	return h.sendEdited(name, d, nil)
}

// sendEdited sends the request of d to endpoint name once edit, unless
// nil, has changed it.
func (h *harness) sendEdited(name string, d testkit.Delivery, edit func(*http.Request)) testkit.Answer {
	h.t.Helper()
	req := h.signed(name, d)
	if edit != nil {
		edit(req)
	}
	return h.do(req)
}

// push sends the push delivery of endpoint name for branch moving
// before→after.
func (h *harness) push(name, branch, before, after string) testkit.Answer {
	h.t.Helper()
	return h.send(name, testkit.Delivery{Body: pushBody(h.t, name, branch, before, after)})
}

// pushBody is a push delivery of endpoint name for branch moving before→after.
func pushBody(t testing.TB, name, branch, before, after string) []byte {
	t.Helper()
	return testkit.PushBody(t, "", endpoints[name].provider, testkit.Push{Ref: "refs/heads/" + branch,
		Before: before, After: after, Repository: endpoints[name].repository})
}

// fakeJobs records submitted jobs; the API methods are not used here.
type fakeJobs struct {
	receiver.Jobs
	mu   sync.Mutex
	jobs []*job.Job
}

func (f *fakeJobs) Submit(jb *job.Job) (job.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, jb)
	return job.Receipt{ID: "job-1"}, nil
}

func (f *fakeJobs) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.jobs) }
