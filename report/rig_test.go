package report_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/report"
	"github.com/wh-gitd/wh-gitd/settings"
)

const (
	sha1  = "1111111111111111111111111111111111111111"
	sha2  = "2222222222222222222222222222222222222222"
	token = "forge-token-0123456789abcdef"
)

// rig is a job store with the report planner and a running sender: tests
// write state changes through the store, as the runner does, and watch
// what the contract servers receive.
type rig struct {
	store *jobstore.Store
	set   *settings.Settings
	log   *syncBuffer
	posts *postCounts
	n     int
}

// syncBuffer is a log sink safe for the sender's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// postCounts counts OnPost's calls by forge and class.
type postCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (p *postCounts) add(forge, class string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[forge+" "+class]++
}

func (p *postCounts) get(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[key]
}

// newRig loads f (with report: {backoff: 20ms} unless f sets report:),
// opens a store and starts a sender.
func newRig(t *testing.T, f testkit.File) *rig {
	t.Helper()
	if f.Top == "" {
		f.Top = "report: {backoff: 20ms, timeout: 5s}"
	}
	f.Top += "\npublic_url: https://deploy.example.com"
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "token.txt"), token+"\n")
	set := f.Load(t, dir)
	store, err := jobstore.Open(filepath.Join(dir, "state"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: store, set: set, log: &syncBuffer{}, posts: &postCounts{m: map[string]int{}}}
	store.SetPlanner(report.NewPlanner(set).Plan)
	s := report.New(report.Options{Settings: set, Store: store, Logger: zerolog.New(r.log),
		UserAgent: "wh-gitd/test", OnPost: r.posts.add})
	s.Start()
	t.Cleanup(func() {
		s.Close()
		store.Close()
	})
	return r
}

// accept records a new queued job.
func (r *rig) accept(t *testing.T, jb job.Job) *job.Job {
	t.Helper()
	r.n++
	jb.ID = fmt.Sprintf("%016x", 0x100+r.n)
	jb.Queued = time.Now()
	if err := r.store.Accept(&job.Record{Job: &jb, State: job.Queued}, nil); err != nil {
		t.Fatal(err)
	}
	return &jb
}

// put records a state change of jb.
func (r *rig) put(t *testing.T, rec job.Record) {
	t.Helper()
	if err := r.store.Put(&rec); err != nil {
		t.Fatal(err)
	}
}

// run records jb running, then ending as final says.
func (r *rig) run(t *testing.T, jb *job.Job, final job.Record) {
	t.Helper()
	r.put(t, job.Record{Job: jb, State: job.Running, Started: time.Now()})
	final.Job, final.Finished = jb, time.Now()
	r.put(t, final)
}

// reports waits until every report of job id left the outbox, and
// returns them.
func (r *rig) reports(t *testing.T, id string) []job.Report {
	t.Helper()
	var rec *job.Record
	testkit.Eventually(t, "the reports of job "+id+" to be settled", testkit.Patience, func() bool {
		var err error
		rec, err = r.store.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, rp := range rec.Reports {
			if rp.Outcome == job.ReportPending {
				return false
			}
		}
		return true
	})
	return rec.Reports
}

// ghEntry is a GitHub entry posting statuses to srv with token.
func ghEntry(srv *forgetest.Server, extra string) testkit.Repo {
	return testkit.Repo{Name: "site", Extra: fmt.Sprintf("status: {api_url: %q, token_file: token.txt%s}", srv.APIURL, extra),
		Environments: []testkit.Target{{Name: "production", Branch: "main", Extra: "url: https://www.example.com"}},
		Branches:     []testkit.Target{{Name: "main"}}}
}
