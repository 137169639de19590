package receiver

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// match turns a delivery into a job for one configured branch or environment,
// or says why nothing runs.
func match(repo *settings.Repo, ev event) (*job.Job, string) {
	if ev.kind == "" {
		return nil, ev.ignore
	}
	jb := &job.Job{Repo: repo.Name, Provider: repo.Provider, Event: ev.kind,
		Delivery: ev.delivery, Before: ev.before, SHA: ev.sha, Pusher: ev.pusher}
	if ev.kind == "push" {
		if _, ok := repo.Target(ev.branch, ""); !ok {
			return nil, fmt.Sprintf("branch %q is not configured", ev.branch)
		}
		jb.Branch, jb.Ref = ev.branch, ev.ref
		return jb, ""
	}
	t, ok := repo.Target("", ev.environment)
	if !ok {
		return nil, fmt.Sprintf("environment %q is not configured", ev.environment)
	}
	if repo.Provider == settings.GitLab && !slices.Contains(repo.DeployOn, ev.status) {
		return nil, fmt.Sprintf("deployment status %q is not in deploy_on", ev.status)
	}
	name := refName(ev.deployRef)
	if len(t.Refs) > 0 && (name == "" || !t.AllowsRef(name)) {
		return nil, fmt.Sprintf("ref %q may not be deployed to environment %q (its refs: %s)",
			ev.deployRef, ev.environment, strings.Join(t.Refs, ", "))
	}
	jb.Environment, jb.DeploymentID = ev.environment, ev.deployment
	jb.Ref, jb.Branch = deploymentRef(ev)
	return jb, ""
}

// refName is a deployment's ref without refs/heads/ or refs/tags/, as the
// environment's refs patterns are written.
func refName(ref string) string {
	if name, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return name
	}
	return strings.TrimPrefix(ref, "refs/tags/")
}

// deploymentRef says where a deployment's commit is fetched from: the ref
// it names (a branch or tag, full or short; a short one is resolved on the
// remote as git does), or nothing when it names the commit itself (a full
// or abbreviated SHA) or an unusual ref, which makes the sync fetch the
// commit by its hash. branch is what $WH_BRANCH shows and, after the
// environment's own branch, where the commit is looked for when the ref
// gives nothing fetchable.
func deploymentRef(ev event) (ref, branch string) {
	r := ev.deployRef
	switch {
	case r == "":
		return "", ev.branch // GitLab before it sent the ref: the default branch
	case abbrevSHARE.MatchString(r) && strings.HasPrefix(ev.sha, r):
		return "", ""
	case strings.HasPrefix(r, "refs/heads/"):
		return r, strings.TrimPrefix(r, "refs/heads/")
	case strings.HasPrefix(r, "refs/tags/"):
		return r, ""
	case strings.HasPrefix(r, "refs/"):
		return "", ""
	}
	return r, r
}
