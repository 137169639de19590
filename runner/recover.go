package runner

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// Recover puts back in line, in the order they were queued, the jobs the
// store holds unfinished: queued ones, and running ones whose daemon died
// (recorded interrupted, their process groups killed first). Jobs of one
// branch or environment coalesce as they would have. Call it once, before
// the first Submit.
func (r *Runner) Recover() (int, error) {
	recs := r.store.unfinished()
	slices.SortFunc(recs, func(a, b *job.Record) int { return cmpString(a.Job.ID, b.Job.ID) })
	for _, rec := range recs {
		if rec.State != job.Queued {
			r.interrupted(rec)
		}
		rec.Job.Payload = nil // read from the store when the job runs
		r.mu.Lock()
		old := r.enqueue(rec.Job)
		r.mu.Unlock()
		if old != nil {
			r.supersede(old, rec.Job)
		}
	}
	return len(recs), nil
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

// interrupted records a job that was running when its daemon died.
func (r *Runner) interrupted(rec *job.Record) {
	log := r.jobLogger(rec.Job)
	if rec.Group != nil && killStale(*rec.Group) {
		log.Warn().Int("pgid", rec.Group.ID).Msg("killed the process group of an interrupted job")
	}
	rec.Group = nil
	rec.State = job.Interrupted
	rec.Finished = time.Now()
	if err := r.store.put(rec); err != nil {
		log.Error().Err(err).Msg("interrupted job not recorded")
	}
	log.Warn().Int("attempt", rec.Attempts).Msg("job was interrupted: running it again")
}

// prune removes the finished jobs of repo beyond its history bounds: their
// records, payloads, logs and payload files. Delivery ids older than
// deliveryTTL are forgotten at the same time, once an hour.
func (r *Runner) prune(repo string) {
	entry, ok := r.set.Load().Repos[repo]
	if !ok {
		return
	}
	// Forgetting delivery ids walks all of them: do it at most hourly.
	forget := time.Time{}
	r.mu.Lock()
	if time.Since(r.forgotten) > time.Hour {
		r.forgotten, forget = time.Now(), time.Now().Add(-deliveryTTL)
	}
	r.mu.Unlock()
	ids, err := r.store.prune(repo, entry.History.Keep, time.Now().Add(-entry.History.MaxAge), forget)
	if err != nil {
		r.log.Warn().Err(err).Str("repo", repo).Msg("job history not pruned")
	}
	for _, id := range ids {
		for _, p := range []string{r.LogPath(id), filepath.Join(r.stateDir, "jobs", id+".payload.json")} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				r.log.Warn().Err(err).Str("file", p).Msg("job file not removed")
			}
		}
	}
}
