package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Prober tells which commit a remote ref points at (the wiring adapts
// gitsync to it).
type Prober interface {
	Head(ctx context.Context, req SyncRequest) (string, error)
}

// fetchToken is the token repo's remote is fetched with when its auth
// says from_status, or "".
func (r *Runner) fetchToken(ctx context.Context, repo *settings.Repo) (string, error) {
	if !repo.Auth.FromStatus {
		return "", nil
	}
	if r.tokens == nil {
		return "", errors.New("auth.from_status: no status credentials here to fetch with")
	}
	token, err := r.tokens.CloneToken(ctx, repo.Name)
	if err != nil {
		return "", fmt.Errorf("get the fetch token from the status credentials: %w", err)
	}
	return token, nil
}

// poll checks, for every entry with poll set, each configured branch's head
// at that interval, and queues a job when it moved past the last deployed
// commit and no job for it is waiting or running: a safety net for
// deliveries that never arrived. It returns when ctx is done.
func (r *Runner) poll(ctx context.Context, p Prober) {
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
	jb := &job.Job{Repo: repo.Name, Provider: repo.Provider, Event: job.EventPoll, Ref: "refs/heads/" + branch,
		Branch: branch}
	req := syncTarget(repo, repo.Branches[branch], jb)
	var head string
	token, err := r.fetchToken(ctx, repo)
	if err == nil {
		req.Token = token
		head, err = p.Head(ctx, req)
	}
	if err != nil {
		r.log.Warn().Err(err).Str("repo", repo.Name).Str("branch", branch).Msg("poll failed")
		return
	}
	if head == r.lastDeployed(repo.Name, branch) || r.pending(jb, head) {
		return
	}
	// The delivery id makes one poll job per head: a head whose job failed
	// is not retried at every poll.
	jb.SHA, jb.Delivery = head, "poll:"+branch+":"+head
	if rc, err := r.Submit(jb); err != nil {
		r.log.Warn().Err(err).Str("repo", repo.Name).Str("branch", branch).Msg("poll: job not queued")
	} else if !rc.Duplicate {
		r.log.Info().Str("repo", repo.Name).Str("branch", branch).Str("sha", head).Str("job", rc.ID).
			Msg("poll: the branch moved without a delivery; job queued")
	}
}

// lastDeployed is the commit of the newest job of repo and branch that
// succeeded, or "".
func (r *Runner) lastDeployed(repo, branch string) string {
	recs, err := r.store.List(job.Filter{Repo: repo, State: job.Succeeded, Limit: 1000})
	if err != nil {
		r.log.Warn().Err(err).Str("repo", repo).Msg("job history partly unreadable")
	}
	for _, rec := range recs {
		if rec.Job.Branch == branch && rec.Job.Environment == "" {
			return rec.Sync.Commit
		}
	}
	return ""
}

// pending reports whether a job for job's target at sha waits or runs.
func (r *Runner) pending(jb *job.Job, sha string) bool {
	key := jb.Key()
	r.mu.Lock()
	defer r.mu.Unlock()
	if q := r.queues[r.copyKey(jb)]; q != nil {
		if i := q.find(key); i >= 0 && q.waiting[i].SHA == sha {
			return true
		}
	}
	for _, rj := range r.running {
		if j := rj.job; j.Repo == jb.Repo && j.Key() == key && j.SHA == sha {
			return true
		}
	}
	return false
}
