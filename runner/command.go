package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// CommandError is the error of a command that did not succeed.
type CommandError struct {
	// Command is the command as configured.
	Command string
	// ExitCode is the exit status, or -1 when a signal ended the command.
	ExitCode int
	// TimedOut is true when the command ran past its timeout.
	TimedOut bool
	// Cancelled is true when the job was cancelled or the daemon stopped.
	Cancelled bool
}

func (e *CommandError) Error() string {
	switch {
	case e.TimedOut:
		return fmt.Sprintf("command %q: timed out", e.Command)
	case e.Cancelled:
		return fmt.Sprintf("command %q: cancelled", e.Command)
	case e.ExitCode < 0:
		return fmt.Sprintf("command %q: killed by a signal", e.Command)
	}
	return fmt.Sprintf("command %q: exit status %d", e.Command, e.ExitCode)
}

// process is one running command: its own process group, stdin from
// /dev/null, stdout and stderr on one pipe copied to out.
type process struct {
	cmd    *exec.Cmd
	pgid   int
	waited chan error    // the group leader's exit
	copied chan struct{} // output pipe closed by every holder
	grace  time.Duration
	pipe   *os.File // read end of the output pipe
}

func commandArgs(c settings.Command) (string, []string) {
	if c.Shell != "" {
		return "/bin/sh", []string{"-c", c.Shell}
	}
	return c.Argv[0], c.Argv[1:]
}

func startProcess(c settings.Command, dir string, env []string, out io.Writer, grace time.Duration) (*process, error) {
	name, args := commandArgs(c)
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", c, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %q: %w", c, err)
	}
	pw.Close()
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, waited: make(chan error, 1),
		copied: make(chan struct{}), grace: grace, pipe: pr}
	go func() {
		_, _ = io.Copy(out, pr)
		pr.Close()
		close(p.copied)
	}()
	go func() { p.waited <- cmd.Wait() }()
	return p, nil
}

// signal sends sig to the whole process group.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pgid, sig)
}

// stop ends the group: SIGTERM, up to grace for the leader to exit, SIGKILL.
func (p *process) stop() error {
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case err := <-p.waited:
		return err
	case <-t.C:
		p.signal(syscall.SIGKILL)
		return <-p.waited
	}
}

// finish waits for the output to be closed by every process of the group,
// for at most grace, then kills what is left of the group so that nothing
// the command started outlives it. It reports whether the group had to be
// killed while holding the output.
func (p *process) finish() (held bool) {
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-p.copied:
	case <-t.C:
		held = true
	}
	p.signal(syscall.SIGKILL)
	p.release()
	return held
}

// runCommand runs one command under timeout and ctx, copying its output to
// out, and leaves no process of its group behind. started, if not nil, is
// told the command's process group once it runs.
func runCommand(ctx context.Context, c settings.Command, dir string, env []string,
	timeout, grace time.Duration, out io.Writer, started func(job.Group)) error {
	p, err := startProcess(c, dir, env, out, grace)
	if err != nil {
		return err
	}
	if started != nil {
		started(job.Group{ID: p.pgid, Start: processStart(p.pgid)})
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	cerr := &CommandError{Command: c.String()}
	var werr error
	select {
	case werr = <-p.waited:
	case <-t.C:
		cerr.TimedOut = true
		werr = p.stop()
	case <-ctx.Done():
		cerr.Cancelled = true
		werr = p.stop()
	}
	if p.finish() {
		fmt.Fprintf(out, "\n[wh-gitd: %q exited but its background processes held the output; killed them]\n", c)
	}
	if werr == nil && !cerr.TimedOut && !cerr.Cancelled {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		cerr.ExitCode = ee.ExitCode()
	} else if werr != nil {
		return fmt.Errorf("wait %q: %w", c, werr)
	}
	return cerr
}

// processStart is the start time of pid in clock ticks since boot (field 22
// of /proc/PID/stat), or 0 when it cannot be read.
func processStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which may hold spaces and parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// killStale kills what is left of a process group recorded by a daemon that
// died. The group's id cannot be reused while any process of it lives; if
// its id now names another leader (a different start time), it is left alone.
func killStale(g job.Group) bool {
	if start := processStart(g.ID); start != 0 && start != g.Start {
		return false
	}
	return syscall.Kill(-g.ID, syscall.SIGKILL) == nil
}
