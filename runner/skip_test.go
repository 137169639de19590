package runner_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
)

// listCounter is the real job store, counting the history reads that
// decode every record.
type listCounter struct {
	*jobstore.Store
	lists atomic.Int64
}

func (c *listCounter) List(f job.Filter) ([]*job.Record, error) {
	c.lists.Add(1)
	return c.Store.List(f)
}

// Pushes of a tip already deployed are skipped without reading the whole
// history again for each (a busy entry has thousands of records).
func TestSkipReadsTheHistoryOnce(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	dir := t.TempDir()
	set := testkit.File{Repos: []testkit.Repo{{Remote: up.Path(), Path: "wc",
		Branches: []testkit.Target{{YAML: "{commands: ['true']}"}}}}}.Load(t, dir)
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	counter := &listCounter{Store: store}
	rn := runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(zerolog.Nop()), Store: counter,
		Logger: zerolog.Nop()})
	for i := range 6 {
		rec := rn.Run(context.Background(), mainJob(job.EventPush, sha), nil)
		if want := map[bool]job.State{true: job.Succeeded, false: job.Skipped}[i == 0]; rec.State != want {
			t.Fatalf("job %d: %s (%s), want %s", i, rec.State, rec.Error, want)
		}
	}
	if n := counter.lists.Load(); n > 1 {
		t.Errorf("the history was read %d times for 6 jobs, want at most once", n)
	}
}
