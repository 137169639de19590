package runner

import (
	"cmp"
	"fmt"

	"github.com/wh-gitd/wh-gitd/job"
)

// ranJob is what skipReason needs of the newest job of a target that ran
// to an end.
type ranJob struct {
	id       string
	state    job.State
	deployed string
}

// ranStates are the states that tell whether a target's commit is deployed:
// skipReason looks at the newest job of the target in one of them.
var ranStates = map[job.State]bool{job.Succeeded: true, job.Skipped: true, job.Failed: true,
	job.TimedOut: true, job.Cancelled: true, job.Interrupted: true}

// noteRan remembers rec as its target's newest job that ran, if it is.
func (r *Runner) noteRan(rec *job.Record) {
	if !ranStates[rec.State] {
		return
	}
	key := rec.Job.Key()
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.ran[key]; !ok || old.id < rec.Job.ID {
		r.ran[key] = ranJob{id: rec.Job.ID, state: rec.State, deployed: deployedOf(rec)}
	}
}

// lastRan returns the newest job of jb's target that ran, other than jb:
// from memory once this process has seen one end, else from the history
// (read once per target, not after every job: it decodes many records).
func (r *Runner) lastRan(jb *job.Job) (ranJob, bool) {
	r.mu.Lock()
	last, ok := r.ran[jb.Key()]
	r.mu.Unlock()
	if ok && last.id != jb.ID {
		return last, true
	}
	recs, err := r.store.List(job.Filter{Repo: jb.Repo, Limit: 1000})
	if err != nil {
		r.jobLogger(jb).Warn().Err(err).Msg("job history partly unreadable")
	}
	for _, old := range recs {
		if old.Job.ID != jb.ID && old.Job.Key() == jb.Key() && ranStates[old.State] {
			r.noteRan(old)
			return ranJob{id: old.Job.ID, state: old.State, deployed: deployedOf(old)}, true
		}
	}
	return ranJob{}, false
}

// skipReason says why a push job runs no command: the tip it synced to was
// already checked out, and the last job of its target that ran deployed
// that same commit and succeeded. "" means the commands run. A deployment
// or a manual run is an explicit request and always runs, and so does every
// push of an entry with always_run.
func (r *Runner) skipReason(rec *job.Record, alwaysRun bool) string {
	jb := rec.Job
	if !jb.FollowsTip() || alwaysRun || rec.Sync.Previous != rec.Sync.Commit {
		return ""
	}
	last, ok := r.lastRan(jb)
	if !ok || (last.state != job.Succeeded && last.state != job.Skipped) || last.deployed != rec.Sync.Commit {
		return ""
	}
	return fmt.Sprintf("%s's tip %s is already deployed (job %s %s)", jb.Branch,
		shortSHA(rec.Sync.Commit), last.id, last.state)
}

// deployedOf is the commit a record's job checked out, also for records
// written before Deployed existed.
func deployedOf(rec *job.Record) string { return cmp.Or(rec.Deployed, rec.Sync.Commit) }
