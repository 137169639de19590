package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/report"
	"github.com/wh-gitd/wh-gitd/runner"
)

// mayRunHere refuses to work in this process when that would leave files
// the daemon cannot use: when state_dir does not exist (the daemon has
// never run with these settings), or belongs to another user than this one
// (root's files in .git or the state dir stop the next job of the service).
func (inv invocation) mayRunHere() error {
	dir := inv.set.StateDir
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &cli.UsageError{
			Err:  fmt.Errorf("no daemon is running, and state_dir %s does not exist: the daemon has never run with these settings", dir),
			Hint: "start wh-gitd with these settings first (it makes state_dir), or check state_dir in them"}
	}
	if err != nil {
		return fmt.Errorf("check state dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == os.Geteuid() {
		return nil
	}
	owner, me := userName(int(st.Uid)), userName(os.Geteuid())
	return &cli.UsageError{
		Err: fmt.Errorf("no daemon is running, and state_dir %s belongs to %s: running the job here as %s "+
			"would leave files that the daemon's jobs cannot write", dir, owner, me),
		Hint: inv.rerunAs(owner)}
}

// rerunAs is the command line of this invocation run as user.
func (inv invocation) rerunAs(user string) string {
	return "sudo -u " + shellQuote(user) + " " + inv.command(inv.args...)
}

// command is a wh-git-trigger command line with args, quoted for a shell.
func (inv invocation) command(args ...string) string {
	words := []string{"wh-git-trigger"}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=@%+#") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ownerOf is the name of the user who owns path ("" when it cannot be read).
func ownerOf(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return userName(int(st.Uid))
	}
	return ""
}

// userName is the name of user id uid, or #uid (which sudo -u takes) when
// it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}

// inProcess runs the job here, recorded in the job history.
func (inv invocation) inProcess(ctx context.Context, jb *job.Job) error {
	log := cli.Logger(inv.set.Log, inv.stderr)
	store, err := inv.openStore()
	if err != nil {
		return err
	}
	defer store.Close()
	// The sender is not started: it only mints fetch tokens here.
	tokens := report.New(report.Options{Settings: inv.set, Store: store, Logger: log,
		UserAgent: "wh-git-trigger/" + cli.Version()})
	syncer := gitsyncer.New(log)
	rn := runner.New(runner.Options{Settings: inv.set, Syncer: syncer, Store: store, Logger: log,
		Tokens: tokens, DetachUpkeep: detachUpkeep(syncer)})
	rec := rn.Run(ctx, jb, inv.stdout)
	return result(&rec)
}

func (inv invocation) openStore() (*jobstore.Store, error) {
	store, err := jobstore.Open(inv.set.StateDir, 500*time.Millisecond)
	if err == nil {
		// Statuses and notifications wait in the outbox for the daemon's
		// sender, which posts them when it next runs.
		store.SetPlanner(report.NewPlanner(inv.set).Plan)
	}
	if errors.Is(err, jobstore.ErrLocked) {
		return nil, &cli.Failure{Err: err, Hint: "another wh-git-trigger runs a job with these settings: wait for it to end"}
	}
	return store, err
}

// result maps a job's record to the command's outcome.
func result(rec *job.Record) error {
	switch {
	case rec.State == job.Succeeded, rec.State == job.Skipped:
		return nil
	case rec.State == job.Superseded:
		return fmt.Errorf("job %s was superseded by job %s before it ran", rec.ID, rec.SupersededBy)
	case !rec.State.Final():
		return fmt.Errorf("job %s is %s: the daemon stopped before it ended", rec.ID, rec.State)
	}
	return fmt.Errorf("job %s %s: %s (log: %s)", rec.ID, rec.State, rec.Error, rec.Log)
}

func printJobs(out io.Writer, recs []*job.Record) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tREPO\tTARGET\tEVENT\tSTATE\tSHA\tQUEUED")
	for _, r := range recs {
		target := r.Branch
		if r.Environment != "" {
			target = "env " + r.Environment
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.12s\t%s\n", r.ID, r.Repo, target, r.Event,
			r.State, cmp.Or(r.Deployed, r.Sync.Commit, r.SHA), r.Queued.Local().Format(time.DateTime))
	}
	tw.Flush()
}

func showJob(out io.Writer, rec *job.Record, log func(io.Writer) error) error {
	b, _ := json.MarshalIndent(rec, "", "  ")
	fmt.Fprintf(out, "%s\n\n", b)
	printReports(out, rec.Reports)
	if rec.Log == "" {
		return nil
	}
	fmt.Fprintln(out, strings.Repeat("-", 72))
	return log(out)
}

// printReports lists the statuses and notifications of a job and how each
// went.
func printReports(out io.Writer, reports []job.Report) {
	if len(reports) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPORT\tTO\tSTATE\tOUTCOME\tATTEMPTS\tCODE\tERROR")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.To, r.State, r.Outcome, r.Attempts, r.Code, r.Error)
	}
	tw.Flush()
	fmt.Fprintln(out)
}
