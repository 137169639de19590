package runner

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// ManualJob makes the job of a forced run of entry name: of environment env
// when set, else of branch (default: the entry's only branch), at sha (default:
// the branch's tip). A commit named is deployed exactly, as a deployment is;
// without a branch (an environment that sets none) it is fetched by hash.
func ManualJob(set *settings.Settings, name, branch, env, sha, by string) (*job.Job, error) {
	repo, ok := set.Repos[name]
	if !ok {
		return nil, &job.SelectError{Msg: fmt.Sprintf("no repository entry %q", name),
			Hint: "configured entries: " + joinKeys(set.Repos), NoEntry: true}
	}
	jb := &job.Job{Repo: name, Provider: repo.Provider, Event: job.EventManual, SHA: sha, Branch: branch,
		Pusher: by, By: by}
	if env != "" {
		t, ok := repo.Target("", env)
		if !ok {
			return nil, &job.SelectError{Msg: fmt.Sprintf("no environment %q in entry %q", env, name),
				Hint: "environments of " + name + ": " + joinKeys(repo.Environments)}
		}
		jb.Environment = env
		if jb.Branch == "" {
			jb.Branch = t.Branch
		}
		if jb.Branch == "" && sha == "" {
			return nil, &job.SelectError{Msg: fmt.Sprintf("environment %q names no branch to fetch", env),
				Hint: "name a commit to deploy, or set branch: for the environment"}
		}
	} else if err := pickBranch(repo, jb); err != nil {
		return nil, err
	}
	if jb.Branch != "" {
		jb.Ref = "refs/heads/" + jb.Branch
	}
	return jb, nil
}

func pickBranch(repo *settings.Repo, jb *job.Job) error {
	names := slices.Sorted(maps.Keys(repo.Branches))
	switch {
	case jb.Branch != "":
		if _, ok := repo.Target(jb.Branch, ""); !ok {
			return &job.SelectError{Msg: fmt.Sprintf("branch %q is not configured for %q", jb.Branch, repo.Name),
				Hint: "branches of " + repo.Name + ": " + strings.Join(names, ", ")}
		}
	case len(names) == 1:
		jb.Branch = names[0]
	case len(names) == 0:
		return &job.SelectError{Msg: fmt.Sprintf("entry %q configures no branch", repo.Name),
			Hint: "name an environment"}
	default:
		return &job.SelectError{Msg: fmt.Sprintf("entry %q configures several branches", repo.Name),
			Hint: "name one branch of: " + strings.Join(names, ", ")}
	}
	return nil
}

func joinKeys[V any](m map[string]V) string { return strings.Join(slices.Sorted(maps.Keys(m)), ", ") }

// Manual makes the job of a forced run of entry name under the settings in
// force (see ManualJob).
func (r *Runner) Manual(name, branch, environment, sha, by string) (*job.Job, error) {
	return ManualJob(r.set.Load(), name, branch, environment, sha, by)
}
