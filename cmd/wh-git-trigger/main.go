// Command wh-git-trigger forces a deployment by hand: it syncs the working
// copy of one repository entry and runs the commands of one branch or
// environment, exactly as the daemon would, printing their output as it
// comes. When the daemon is running, the job is submitted to it over its
// control socket (state_dir/control.sock) and its log followed; otherwise it
// runs in this process, as the owner of the state dir only, taking the same
// working-copy lock and recording the job in the same history. It also
// lists recent jobs, shows one and cancels one.
//
// For provider: git entries (a bare repository on this host that people
// push to) it is also the repository's post-receive hook, which deploys
// every configured branch a push updates and streams the output to the
// pusher; the installer of that hook; and the forced command of an SSH key
// that may only push to and fetch from those repositories.
//
//	wh-git-trigger [flags] settings.yaml NAME [--branch B | --environment E] [--sha SHA]
//	wh-git-trigger settings.yaml --list [--repo NAME]
//	wh-git-trigger settings.yaml --show ID
//	wh-git-trigger settings.yaml --cancel ID
//	wh-git-trigger settings.yaml NAME --install-hook [--force]
//	wh-git-trigger settings.yaml --post-receive
//	wh-git-trigger settings.yaml --git-shell [FINGERPRINT]
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

func main() {
	// A sync of a large repository's full history makes hundreds of MB of
	// short-lived garbage (go-git's pack parser) around a live heap of a
	// few tens: a soft limit, as in wh-gitd, has the collector keep the
	// peak near it. GOMEMLIMIT in the environment still wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	if os.Args[0] == upkeepName {
		os.Exit(runUpkeep(os.Args[1:], os.Stdout))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("wh-git-trigger", err, os.Stderr))
}

const usage = `usage: wh-git-trigger [flags] settings.yaml NAME
       wh-git-trigger settings.yaml --list [--repo NAME]
       wh-git-trigger settings.yaml --show ID
       wh-git-trigger settings.yaml --cancel ID
       wh-git-trigger settings.yaml NAME --install-hook [--force]
       wh-git-trigger settings.yaml --post-receive
       wh-git-trigger settings.yaml --git-shell [FINGERPRINT]

Syncs the working copy of repository entry NAME and runs the commands of one
of its branches (or environments), as a webhook delivery would: through the
daemon when it runs, else in this process. Exit status: 0 the job succeeded,
1 it failed (or the daemon did), 2 bad arguments or settings, or this process
may not run the job here.

For a provider: git entry, --install-hook makes its bare repository (when
missing) and its post-receive hook, which runs --post-receive on every push;
--git-shell is the command= of an authorized_keys line that may only push to
and fetch from the provider: git repositories.
Flags:
`

type flags struct {
	branch, environment, sha string
	list                     bool
	repo, show, cancel       string
	version                  bool
	installHook, force       bool
	postReceive, gitShell    bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, pos, err := parseFlags(args, stderr)
	switch {
	case err != nil:
		return err
	case f.version:
		fmt.Fprintln(stdout, "wh-git-trigger", cli.Version())
		return nil
	}
	if err := f.check(len(pos)); err != nil {
		return err
	}
	var he hookEnv
	if f.postReceive { // before anything: git's variables name the repository the hook runs in
		cwd, _ := os.Getwd()
		he = readHookEnv(os.Environ(), cwd)
		clearGitEnv()
	}
	set, err := cli.LoadSettings(pos[0])
	if err != nil {
		return err
	}
	inv := invocation{set: set, file: pos[0], args: args, stdout: stdout, stderr: stderr}
	switch {
	case f.postReceive:
		return inv.postReceive(ctx, he, os.Stdin)
	case f.gitShell:
		return inv.gitShell(strings.Join(pos[1:], ""))
	case f.installHook:
		return inv.installHook(pos[1], f.force)
	case f.cancel != "":
		return inv.cancel(ctx, f.cancel)
	case f.list || f.show != "":
		return inv.history(ctx, f)
	}
	return inv.trigger(ctx, pos[1], f)
}

func parseFlags(args []string, stderr io.Writer) (flags, []string, error) {
	var f flags
	fs := flag.NewFlagSet("wh-git-trigger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&f.branch, "branch", "", "the configured branch to deploy (default: the only one)")
	fs.StringVar(&f.environment, "environment", "", "a configured environment to deploy instead of a branch")
	fs.StringVar(&f.sha, "sha", "", "the exact commit to deploy, a full SHA-1 (default: the branch's tip)")
	fs.BoolVar(&f.list, "list", false, "list recent jobs, newest first")
	fs.StringVar(&f.repo, "repo", "", "with --list: only the jobs of this entry")
	fs.StringVar(&f.show, "show", "", "print the record and the log of job `ID`")
	fs.StringVar(&f.cancel, "cancel", "", "cancel job `ID`, waiting or running in the daemon")
	fs.BoolVar(&f.installHook, "install-hook", false, "make entry NAME's bare repository and its post-receive hook (provider: git)")
	fs.BoolVar(&f.force, "force", false, "with --install-hook: replace a post-receive hook that another program wrote")
	fs.BoolVar(&f.postReceive, "post-receive", false, "run as a repository's post-receive hook: deploy what was pushed")
	fs.BoolVar(&f.gitShell, "git-shell", false, "run as an SSH key's forced command: only git push and fetch of provider: git entries")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	pos, err := cli.Parse(fs, args)
	return f, pos, err
}

// check refuses flags that do not go together, and positionals that do not
// fit them, before anything is read.
func (f flags) check(npos int) error {
	modes := 0
	for _, on := range []bool{f.list, f.show != "", f.cancel != "", f.installHook, f.postReceive, f.gitShell} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return cli.Usagef("give one of them", "--list, --show, --cancel, --install-hook, --post-receive and --git-shell do not go together")
	case f.force && !f.installHook:
		return cli.Usagef("wh-git-trigger settings.yaml NAME --install-hook --force", "--force goes with --install-hook")
	case f.installHook || f.gitShell:
		return f.checkPush(npos)
	case modes == 1 && npos != 1:
		return cli.Usagef("wh-git-trigger settings.yaml --list", "expected the settings file alone, got %d arguments", npos)
	case modes == 0 && npos != 2:
		return cli.Usagef("wh-git-trigger settings.yaml NAME", "expected a settings file and an entry name, got %d arguments", npos)
	case f.branch != "" && f.environment != "":
		return cli.Usagef("an environment deploys from the branch its settings name: drop --branch",
			"--branch and --environment both name what to deploy: give one")
	case f.sha != "" && !job.ValidSHA(f.sha):
		return cli.Usagef("git rev-parse COMMIT prints the full SHA-1",
			"--sha must be a full lowercase SHA-1 of 40 hex digits (got %q)", f.sha)
	}
	return nil
}

// checkPush checks the positionals of --install-hook and --git-shell.
func (f flags) checkPush(npos int) error {
	switch {
	case f.installHook && npos != 2:
		return cli.Usagef("wh-git-trigger settings.yaml NAME --install-hook",
			"expected a settings file and an entry name, got %d arguments", npos)
	case f.gitShell && npos != 1 && npos != 2:
		return cli.Usagef("wh-git-trigger settings.yaml --git-shell [FINGERPRINT]",
			"expected a settings file and an optional key fingerprint, got %d arguments", npos)
	}
	return nil
}

// invocation is one run of the command: its settings and where it writes.
type invocation struct {
	set            *settings.Settings
	file           string   // the settings file as given
	args           []string // the whole command line, for the hint to rerun it
	stdout, stderr io.Writer
}

// trigger runs a job of entry name, through the daemon when one answers on
// its control socket, else here.
func (inv invocation) trigger(ctx context.Context, name string, f flags) error {
	by := cmp.Or(os.Getenv("USER"), "manual")
	jb, err := runner.ManualJob(inv.set, name, f.branch, f.environment, f.sha, by)
	var se *job.SelectError
	if errors.As(err, &se) {
		return &cli.UsageError{Err: se, Hint: se.Hint}
	}
	c, err := dial(inv)
	if err == nil {
		req := job.TriggerRequest{Branch: f.branch, Environment: f.environment, SHA: f.sha, By: by}
		return c.run(ctx, inv, name, req)
	}
	if !errors.Is(err, errNoDaemon) {
		return err
	}
	if err := inv.mayRunHere(); err != nil {
		return err
	}
	return inv.inProcess(ctx, jb)
}

// cancel cancels job id in the daemon.
func (inv invocation) cancel(ctx context.Context, id string) error {
	c, err := dial(inv)
	if errors.Is(err, errNoDaemon) {
		return &cli.Failure{Err: fmt.Errorf("cancel job %s: no daemon answers on %s", id, jobstore.ControlPath(inv.set.StateDir)),
			Hint: "without the daemon a job runs only in a wh-git-trigger: stop that one with Ctrl-C"}
	}
	if err != nil {
		return err
	}
	if err := c.cancel(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(inv.stdout, "job %s cancelled\n", id)
	return nil
}
