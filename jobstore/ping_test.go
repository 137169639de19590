//go:build hostile

package jobstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// Ping answers while the store works, reports a store whose writes hang
// (reads still answer) within its context, and answers again once the
// writes go through; pings queued meanwhile do not disturb the writes
// they are batched with.
func TestPingWhileWritesHang(t *testing.T) {
	s := openStore(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	release := s.Stall()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := s.Ping(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping of a hung store: %v, want the deadline", err)
	}
	if _, err := s.List(job.Filter{}); err != nil {
		t.Errorf("reads while the writes hang: %v", err)
	}
	wrote := make(chan error, 1)
	go func() {
		wrote <- s.Put(&job.Record{Job: &job.Job{ID: "j1", Repo: "site", Branch: "main"}, State: job.Queued})
	}()
	release()
	if err := <-wrote; err != nil {
		t.Fatalf("write after the hang: %v", err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("ping after the hang: %v", err)
	}
	if rec, err := s.Get("j1"); err != nil || rec.State != job.Queued {
		t.Errorf("record written with the pings: %v %v", rec, err)
	}
}
