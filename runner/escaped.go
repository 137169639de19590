package runner

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// release waits until no process holds the command's output any more, once
// its process group has been killed. A process that left the group (setsid,
// setpgid) but kept the output would otherwise hold the job forever: it is
// found by the pipe in /proc/*/fd and killed too. If the pipe is still held
// after that (a process the daemon may not signal), the daemon closes its
// own end, so that the job ends whatever the command left behind.
func (p *process) release() {
	if closedWithin(p.copied, 200*time.Millisecond) {
		return
	}
	killHolders(p.pipe)
	if closedWithin(p.copied, p.grace) {
		return
	}
	_ = p.pipe.Close() // ends the copy: its Read returns an error
	<-p.copied
}

func closedWithin(c <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}

// killHolders sends SIGKILL to every other process that has pipe (either
// end) open, as /proc/PID/fd shows it. Without /proc it does nothing.
func killHolders(pipe *os.File) {
	fi, err := pipe.Stat() // not Fd(): that would make the pipe blocking
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	want := fmt.Sprintf("pipe:[%d]", st.Ino)
	procs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if holds(pid, want) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// holds reports whether process pid has a file descriptor on target.
func holds(pid int, target string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if link, err := os.Readlink(dir + "/" + fd.Name()); err == nil && link == target {
			return true
		}
	}
	return false
}
