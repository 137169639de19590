package main

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// idleTrimEvery is how often the daemon checks whether it has gone idle
// after jobs, to give memory back (giveBack).
const idleTrimEvery = 30 * time.Second

// idleTrim decides when an idle daemon gives memory back: at a check after
// jobs ended, when no job ended since the previous check and none is
// queued or running. Between deploys a daemon then holds what serving
// needs, not what the last sync and its garbage used.
type idleTrim struct {
	ended   atomic.Int64 // jobs ended, counted by jobEnded
	seen    int64        // ended at the previous check
	trimmed int64        // ended at the last trim
}

// jobEnded counts a job's end (the runner's OnDone).
func (t *idleTrim) jobEnded(job.Record) { t.ended.Add(1) }

// due says, at a check, whether to give memory back now; busy says whether
// jobs are queued or running.
func (t *idleTrim) due(busy bool) bool {
	n := t.ended.Load()
	quiet := n == t.seen
	t.seen = n
	if !quiet || busy || n == t.trimmed {
		return false
	}
	t.trimmed = n
	return true
}

// trimWhenIdle gives memory back whenever the daemon has gone idle after
// jobs, until ctx is done.
func (s *service) trimWhenIdle(ctx context.Context) {
	tk := time.NewTicker(idleTrimEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if queued, running := s.rn.Counts(); s.idle.due(queued+running > 0) {
			giveBack()
		}
	}
}

// giveBack returns the heap's free memory to the kernel, then the
// resident pages of the program's code (giveBackCode).
func giveBack() {
	debug.FreeOSMemory()
	giveBackCode()
}
