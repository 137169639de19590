package receiver

import (
	"fmt"
	"slices"

	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// match turns a delivery into a job for one configured branch or environment,
// or says why nothing runs.
func match(repo *settings.Repo, ev event) (*runner.Job, string) {
	if ev.kind == "" {
		return nil, ev.ignore
	}
	job := &runner.Job{Repo: repo.Name, Provider: repo.Provider, Event: ev.kind,
		Delivery: ev.delivery, Before: ev.before, SHA: ev.sha, Pusher: ev.pusher}
	if ev.kind == "push" {
		if _, ok := repo.Branches[ev.branch]; !ok {
			return nil, fmt.Sprintf("branch %q is not configured", ev.branch)
		}
		job.Branch, job.Ref = ev.branch, ev.ref
		return job, ""
	}
	t, ok := repo.Environments[ev.environment]
	if !ok {
		return nil, fmt.Sprintf("environment %q is not configured", ev.environment)
	}
	if repo.Provider == settings.GitLab && !slices.Contains(repo.DeployOn, ev.status) {
		return nil, fmt.Sprintf("deployment status %q is not in deploy_on", ev.status)
	}
	job.Environment, job.Branch = ev.environment, ev.branch
	if t.Branch != "" {
		job.Branch = t.Branch
	}
	if job.Branch == "" {
		return nil, fmt.Sprintf("deployment to %q names no branch and the environment sets none", ev.environment)
	}
	job.Ref = "refs/heads/" + job.Branch
	return job, ""
}
