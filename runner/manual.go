package runner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// SelectError says why a manual run names no configured target, and what
// could be named instead.
type SelectError struct {
	Msg  string
	Hint string
	// NoEntry is true when the entry itself is not configured.
	NoEntry bool
}

func (e *SelectError) Error() string { return e.Msg }

// ManualJob makes the job of a forced run of entry name: of environment env
// when set, else of branch (default: the entry's only branch), at sha (default:
// the branch's tip). A commit named is deployed exactly, as a deployment is;
// without a branch (an environment that sets none) it is fetched by hash.
func ManualJob(set *settings.Settings, name, branch, env, sha, by string) (*Job, error) {
	repo, ok := set.Repos[name]
	if !ok {
		return nil, &SelectError{Msg: fmt.Sprintf("no repository entry %q", name),
			Hint: "configured entries: " + joinKeys(set.Repos), NoEntry: true}
	}
	job := &Job{Repo: name, Provider: repo.Provider, Event: EventManual, SHA: sha, Branch: branch, Pusher: by}
	if env != "" {
		t, ok := repo.Environments[env]
		if !ok {
			return nil, &SelectError{Msg: fmt.Sprintf("no environment %q in entry %q", env, name),
				Hint: "environments of " + name + ": " + joinKeys(repo.Environments)}
		}
		job.Environment = env
		if job.Branch == "" {
			job.Branch = t.Branch
		}
		if job.Branch == "" && sha == "" {
			return nil, &SelectError{Msg: fmt.Sprintf("environment %q names no branch to fetch", env),
				Hint: "name a commit to deploy, or set branch: for the environment"}
		}
	} else if err := pickBranch(repo, job); err != nil {
		return nil, err
	}
	if job.Branch != "" {
		job.Ref = "refs/heads/" + job.Branch
	}
	return job, nil
}

func pickBranch(repo *settings.Repo, job *Job) error {
	names := keys(repo.Branches)
	switch {
	case job.Branch != "":
		if _, ok := repo.Branches[job.Branch]; !ok {
			return &SelectError{Msg: fmt.Sprintf("branch %q is not configured for %q", job.Branch, repo.Name),
				Hint: "branches of " + repo.Name + ": " + strings.Join(names, ", ")}
		}
	case len(names) == 1:
		job.Branch = names[0]
	case len(names) == 0:
		return &SelectError{Msg: fmt.Sprintf("entry %q configures no branch", repo.Name),
			Hint: "name an environment"}
	default:
		return &SelectError{Msg: fmt.Sprintf("entry %q configures several branches", repo.Name),
			Hint: "name one branch of: " + strings.Join(names, ", ")}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func joinKeys[V any](m map[string]V) string { return strings.Join(keys(m), ", ") }
