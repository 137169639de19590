package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/runner"
)

// upkeepName is the program name (argv[0]) of the process that does a
// working copy's object-store upkeep after a job this process ran: its
// arguments are the working copy and its lock file, its output the job's
// log, and its file 3 a pipe it reads until this process has exited.
const upkeepName = "wh-git-trigger-upkeep"

// upkeepLockWait bounds how long that process waits for the working copy
// when a job of the daemon holds it: that job's own upkeep then does it.
const upkeepLockWait = 10 * time.Minute

// exited holds the write ends of the pipes the upkeep processes wait on:
// they are closed when this process exits, however it does, and not
// before.
var exited struct {
	sync.Mutex
	pipes []*os.File
}

// detachUpkeep is runner.Options.DetachUpkeep for the jobs run here: when
// the object store needs more than a look (a merge or repack of its packs,
// see gitsync.Syncer.UpkeepDue), it starts that upkeep in a process of its
// own, in a new session, which waits for this one to exit (so that the
// job's log and the working copy's lock are let go first) and appends to
// the job's log. Whoever waits for this process (a person, a push) does not
// wait for the upkeep, as with git's gc --auto. If the process cannot be
// started, the upkeep is done here.
func detachUpkeep(syncer gitsyncer.Syncer) func(runner.Upkeep) string {
	return func(u runner.Upkeep) string {
		if u.Log == "" || !syncer.UpkeepDue(u.Path) {
			return ""
		}
		pid, err := startUpkeep(u)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("object-store upkeep continues in process %d once this one has exited; its lines follow, up to the one saying it ended", pid)
	}
}

func startUpkeep(u runner.Upkeep) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	log, err := os.OpenFile(u.Log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	wait, hold, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer wait.Close()
	cmd := &exec.Cmd{Path: exe, Args: []string{upkeepName, u.Path, u.Lock}, Dir: "/",
		Stdout: log, Stderr: log, ExtraFiles: []*os.File{wait},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		hold.Close()
		return 0, err
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	exited.Lock()
	exited.pipes = append(exited.pipes, hold)
	exited.Unlock()
	return pid, nil
}

// runUpkeep is the upkeep process: args are the working copy and its lock
// file. It waits for the process that started it to exit, then does the
// upkeep under the working copy's lock, its lines going to its output (the
// job's log). SIGTERM or SIGINT stop it where the upkeep can stop.
func runUpkeep(args []string, out io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(out, "%s: expected a working copy and its lock file, got %d arguments\n", upkeepName, len(args))
		return 2
	}
	parent := os.NewFile(3, "parent")
	if parent != nil {
		_, _ = io.Copy(io.Discard, parent) // EOF once the parent has exited
		parent.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	lockCtx, cancel := context.WithTimeout(ctx, upkeepLockWait)
	defer cancel()
	u := runner.Upkeep{Path: args[0], Lock: args[1]}
	if runner.RunUpkeep(ctx, lockCtx, gitsyncer.New(zerolog.Nop()), zerolog.Nop(), u, out) != nil {
		return 1
	}
	return 0
}
