// Command wh-git-trigger forces a deployment by hand: it syncs the working
// copy of one repository entry and runs the commands of one branch or
// environment, exactly as the daemon would, printing their output as it
// comes. It takes the same working-copy lock as the daemon, so the two never
// run jobs on one working copy at once.
//
//	wh-git-trigger [flags] settings.yaml NAME [--branch B | --environment E] [--sha SHA]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("wh-git-trigger", err, os.Stderr))
}

const usage = `usage: wh-git-trigger [flags] settings.yaml NAME

Syncs the working copy of repository entry NAME and runs the commands of one
of its branches (or environments), as a webhook delivery would. Exit status:
0 the job succeeded, 1 it failed, 2 bad arguments or settings.
Flags:
`

type flags struct {
	branch, environment, sha string
	version                  bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f flags
	fs := flag.NewFlagSet("wh-git-trigger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&f.branch, "branch", "", "the configured branch to deploy (default: the only one)")
	fs.StringVar(&f.environment, "environment", "", "a configured environment to deploy instead of a branch")
	fs.StringVar(&f.sha, "sha", "", "the exact commit to deploy (default: the branch's tip)")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if f.version {
		fmt.Fprintln(stdout, "wh-git-trigger", cli.Version())
		return nil
	}
	if len(pos) != 2 {
		return cli.Usagef("wh-git-trigger settings.yaml NAME", "expected a settings file and an entry name, got %d arguments", len(pos))
	}
	set, err := cli.LoadSettings(pos[0])
	if err != nil {
		return err
	}
	job, err := newJob(set, pos[1], f)
	if err != nil {
		return err
	}
	log := cli.Logger(set.Log, stderr)
	rn := runner.New(runner.Options{Settings: set, Syncer: gitsync.New(log), Logger: log})
	res := rn.Run(ctx, job, stdout)
	if res.State != runner.Succeeded {
		return fmt.Errorf("job %s %s: %s (log: %s)", job.ID, res.State, res.Error, res.Log)
	}
	return nil
}

// newJob picks the entry and its target from the flags.
func newJob(set *settings.Settings, name string, f flags) (*runner.Job, error) {
	repo, ok := set.Repos[name]
	if !ok {
		return nil, cli.Usagef("configured entries: "+strings.Join(keys(set.Repos), ", "),
			"no repository entry %q in %s", name, set.File)
	}
	job := &runner.Job{Repo: name, Provider: repo.Provider, Event: runner.EventManual,
		SHA: f.sha, Branch: f.branch, Pusher: os.Getenv("USER")}
	if f.environment != "" {
		t, ok := repo.Environments[f.environment]
		if !ok {
			return nil, cli.Usagef("environments of "+name+": "+strings.Join(keys(repo.Environments), ", "),
				"no environment %q in entry %q", f.environment, name)
		}
		job.Environment = f.environment
		if job.Branch == "" {
			job.Branch = t.Branch
		}
		if job.Branch == "" {
			return nil, cli.Usagef("pass --branch, or set branch: for the environment", "environment %q names no branch to fetch", f.environment)
		}
	} else if err := pickBranch(repo, job); err != nil {
		return nil, err
	}
	job.Ref = "refs/heads/" + job.Branch
	return job, nil
}

func pickBranch(repo *settings.Repo, job *runner.Job) error {
	names := keys(repo.Branches)
	switch {
	case job.Branch != "":
		if _, ok := repo.Branches[job.Branch]; !ok {
			return cli.Usagef("branches of "+repo.Name+": "+strings.Join(names, ", "),
				"branch %q is not configured for %q", job.Branch, repo.Name)
		}
	case len(names) == 1:
		job.Branch = names[0]
	case len(names) == 0:
		return cli.Usagef("pass --environment", "entry %q configures no branch", repo.Name)
	default:
		return cli.Usagef("pass --branch, one of: "+strings.Join(names, ", "),
			"entry %q configures several branches", repo.Name)
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
