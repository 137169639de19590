package report

import (
	"fmt"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Length limits of a status's description.
const (
	githubDescription = 140
	gitlabDescription = 255
)

// deploymentStatuses plans the GitHub deployment status of a phase:
// queued, in_progress, then exactly one of success, failure or error.
func deploymentStatuses(set *settings.Settings, repo *settings.Repo, t jobstore.Transition, ph phase) []jobstore.Message {
	rec := t.Next
	if repo.Provider != settings.GitHub || rec.DeploymentID == 0 || rec.Environment == "" {
		return nil
	}
	b := body{Kind: kindDeployment, Entry: repo.Name, Forge: settings.GitHub, Repository: repo.Repository,
		Deployment: rec.DeploymentID, TargetURL: set.JobURL(rec.Job.ID)}
	if env, ok := repo.Target("", rec.Environment); ok {
		b.EnvironmentURL = env.URL
	}
	switch ph {
	case phaseQueued:
		b.State, b.Description = "queued", "job "+rec.Job.ID+" queued"
	case phaseRunning:
		b.State, b.Description = "in_progress", "job "+rec.Job.ID+" running"
	case phaseFinal:
		b.State, b.Description = deploymentFinal(rec), outcome(t)
	default:
		return nil
	}
	b.Description = clip(b.Description, githubDescription)
	to := fmt.Sprintf("github deployment %d", rec.DeploymentID)
	return []jobstore.Message{message(lane(repo), to, ph == phaseFinal, b, to)}
}

// deploymentFinal maps a job's final state onto a deployment's: failure
// when a command failed or timed out, error when wh-gitd could not deploy
// (sync failed, interrupted once too often, cancelled, superseded).
func deploymentFinal(rec *job.Record) string {
	switch {
	case rec.State == job.Succeeded || rec.State == job.Skipped:
		return "success"
	case rec.CommandFailed():
		return "failure"
	}
	return "error"
}

// commitStatuses plans the commit statuses of a branch's job: on the
// delivered commit while it waits and runs, then the result on the commit
// deployed and on the delivered one when they differ.
func commitStatuses(set *settings.Settings, repo *settings.Repo, t jobstore.Transition, ph phase) []jobstore.Message {
	rec := t.Next
	if !repo.Status.Commits || rec.Environment != "" {
		return nil
	}
	shas := []string{rec.SHA}
	switch {
	case ph == phaseDeployed && rec.Deployed != rec.SHA:
		shas = []string{rec.Deployed}
	case ph == phaseDeployed:
		return nil
	case ph == phaseFinal && rec.Deployed != "" && rec.Deployed != rec.SHA:
		shas = []string{rec.Deployed, rec.SHA}
	}
	var out []jobstore.Message
	for _, sha := range shas {
		if !job.ValidSHA(sha) {
			continue
		}
		b := commitBody(set, repo, t, ph)
		b.SHA = sha
		to := fmt.Sprintf("%s commit %s", repo.Provider, short(sha))
		topic := fmt.Sprintf("%s %s %s", repo.Provider, sha, b.Context)
		out = append(out, message(lane(repo), topic, ph == phaseFinal, b, to))
	}
	return out
}

func commitBody(set *settings.Settings, repo *settings.Repo, t jobstore.Transition, ph phase) body {
	rec := t.Next
	b := body{Kind: kindCommit, Entry: repo.Name, Forge: repo.Provider, Repository: repo.Repository,
		Ref: rec.Branch, Context: repo.Status.Context, TargetURL: set.JobURL(rec.Job.ID)}
	if b.Context == "" {
		b.Context = "wh-gitd/" + repo.Name + "/" + rec.Branch
	}
	gitlab := repo.Provider == settings.GitLab
	switch ph {
	case phaseQueued:
		b.State, b.Description = "pending", "job "+rec.Job.ID+" queued"
	case phaseRunning, phaseDeployed:
		b.State, b.Description = "pending", "job "+rec.Job.ID+" running"
		if gitlab {
			b.State = "running"
		}
	default:
		b.State, b.Description = commitFinal(rec, gitlab), outcome(t)
	}
	if gitlab {
		b.Description = clip(b.Description, gitlabDescription)
	} else {
		b.Description = clip(b.Description, githubDescription)
	}
	return b
}

// commitFinal maps a job's final state onto a commit status's: GitLab's
// success, failed, canceled; GitHub's and Gitea's success, failure, error.
func commitFinal(rec *job.Record, gitlab bool) string {
	d := deploymentFinal(rec)
	if !gitlab {
		return d
	}
	switch {
	case d == "success":
		return "success"
	case rec.State == job.Cancelled || rec.State == job.Superseded:
		return "canceled"
	}
	return "failed"
}
