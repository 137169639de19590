package runner

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// recover puts back in line, in the order they were queued, the jobs the
// store holds unfinished: queued ones, and running ones whose daemon died
// (recorded interrupted, their process groups killed first). Jobs of one
// branch or environment coalesce as they would have. The error reports
// records that could not be read (those jobs are not resumed); the others
// are.
func (r *Runner) recover() (int, error) {
	recs, err := r.store.Unfinished()
	slices.SortFunc(recs, func(a, b *job.Record) int { return cmpString(a.Job.ID, b.Job.ID) })
	resumed := 0
	for _, rec := range recs {
		if rec.State != job.Queued && !r.interrupted(rec) {
			continue
		}
		resumed++
		rec.Job.Payload = nil // read from the store when the job runs
		r.mu.Lock()
		old := r.enqueue(rec.Job)
		r.mu.Unlock()
		if old != nil {
			r.supersede(old, rec.Job)
		}
	}
	return resumed, err
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// interrupted records a job that was running when its daemon died, and
// reports whether it runs again: after max_attempts attempts (a deploy
// that takes the machine down with it, say) it is recorded failed instead.
func (r *Runner) interrupted(rec *job.Record) bool {
	log := r.jobLogger(rec.Job)
	if rec.Group != nil && killStale(*rec.Group) {
		log.Warn().Int("pgid", rec.Group.ID).Msg("killed the process group of an interrupted job")
	}
	rec.Group = nil
	rec.State = job.Interrupted
	rec.Finished = time.Now()
	again := rec.Attempts < r.set.Load().MaxAttempts
	if !again {
		rec.State = job.Failed
		rec.Error = fmt.Sprintf("interrupted in each of its %d attempts (the daemon stopped or died); "+
			"not started again: run it by hand once the cause is found", rec.Attempts)
	}
	if err := r.store.Put(rec); err != nil {
		log.Error().Err(err).Msg("interrupted job not recorded")
	}
	if !again {
		log.Error().Int("attempt", rec.Attempts).Msg("job was interrupted once too often: not running it again")
		return false
	}
	log.Warn().Int("attempt", rec.Attempts).Msg("job was interrupted: running it again")
	return true
}

// pruneInterval is how often the pool's jobs' history is pruned: pruning
// reads every record, so it is not done after each job.
const pruneInterval = 30 * time.Second

// pruneEvery prunes the entries whose jobs ended, every interval, until ctx
// is done.
func (r *Runner) pruneEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.pruneEnded()
		}
	}
}

// pruneEnded prunes the entries with jobs that ended since the last prune.
func (r *Runner) pruneEnded() {
	r.mu.Lock()
	repos := r.unpruned
	r.unpruned = map[string]bool{}
	r.mu.Unlock()
	for repo := range repos {
		r.prune(repo)
	}
}

// prune removes the finished jobs of repo beyond its history bounds, with
// their files (the store also forgets old delivery ids, at most hourly).
func (r *Runner) prune(repo string) {
	entry, ok := r.set.Load().Repos[repo]
	if !ok {
		return
	}
	if err := r.store.Prune(repo, entry.History.Keep, time.Now().Add(-entry.History.MaxAge)); err != nil {
		r.log.Warn().Err(err).Str("repo", repo).Msg("job history not all pruned")
	}
}
