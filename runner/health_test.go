package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
)

// Probe answers with the counts while the scheduler is idle.
func TestProbeIdle(t *testing.T) {
	dir := t.TempDir()
	set := testkit.File{}.Load(t, dir)
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rn := runner.New(runner.Options{Settings: set, Store: store, Logger: zerolog.Nop()})
	defer rn.Close(context.Background())
	q, r, err := rn.Probe(context.Background())
	if err != nil || q != 0 || r != 0 {
		t.Errorf("Probe = %d, %d, %v; want 0, 0, nil", q, r, err)
	}
	if q, r := rn.Counts(); q != 0 || r != 0 {
		t.Errorf("Counts = %d, %d; want 0, 0", q, r)
	}
}
