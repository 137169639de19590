package runner

import (
	"context"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Prober tells which commit a remote ref points at; gitsync.Syncer is the
// real one.
type Prober interface {
	Head(ctx context.Context, t gitsync.Target) (string, error)
}

// EventPoll is the event of a job started by the safety-net poll.
const EventPoll = "poll"

// Poll checks, for every entry with poll set, each configured branch's head
// at that interval, and queues a job when it moved past the last deployed
// commit and no job for it is waiting or running: a safety net for
// deliveries that never arrived. It returns when ctx is done.
func (r *Runner) Poll(ctx context.Context, p Prober) {
	due := map[string]time.Time{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		now := time.Now()
		for name, repo := range r.set.Load().Repos {
			if repo.Poll <= 0 || now.Before(due[name]) {
				continue
			}
			due[name] = now.Add(repo.Poll)
			for branch := range repo.Branches {
				r.pollBranch(ctx, p, repo, branch)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) pollBranch(ctx context.Context, p Prober, repo *settings.Repo, branch string) {
	job := &Job{Repo: repo.Name, Provider: repo.Provider, Event: EventPoll, Ref: "refs/heads/" + branch,
		Branch: branch}
	head, err := p.Head(ctx, syncTarget(repo, repo.Branches[branch], job))
	if err != nil {
		r.log.Warn().Err(err).Str("repo", repo.Name).Str("branch", branch).Msg("poll failed")
		return
	}
	if head == r.lastDeployed(repo.Name, branch) || r.pending(job, head) {
		return
	}
	// The delivery id makes one poll job per head: a head whose job failed
	// is not retried at every poll.
	job.SHA, job.Delivery = head, "poll:"+branch+":"+head
	if rc, err := r.Submit(job); err != nil {
		r.log.Warn().Err(err).Str("repo", repo.Name).Str("branch", branch).Msg("poll: job not queued")
	} else if !rc.Duplicate {
		r.log.Info().Str("repo", repo.Name).Str("branch", branch).Str("sha", head).Str("job", rc.ID).
			Msg("poll: the branch moved without a delivery; job queued")
	}
}

// lastDeployed is the commit of the newest job of repo and branch that
// succeeded, or "".
func (r *Runner) lastDeployed(repo, branch string) string {
	for _, rec := range r.store.List(Filter{Repo: repo, State: Succeeded, Limit: 1000}) {
		if rec.Job.Branch == branch && rec.Job.Environment == "" {
			return rec.Sync.Commit
		}
	}
	return ""
}

// pending reports whether a job for job's target at sha waits or runs.
func (r *Runner) pending(job *Job, sha string) bool {
	key := job.key()
	r.mu.Lock()
	defer r.mu.Unlock()
	if q := r.queues[r.copyKey(job)]; q != nil {
		if i := q.find(key); i >= 0 && q.waiting[i].SHA == sha {
			return true
		}
	}
	for _, rj := range r.running {
		if j := rj.job; j.Repo == job.Repo && j.key() == key && j.SHA == sha {
			return true
		}
	}
	return false
}
