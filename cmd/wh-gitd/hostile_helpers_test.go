//go:build hostile

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// startDaemonEnv is startDaemon with the daemon's environment set to env.
func startDaemonEnv(t *testing.T, settingsFile string, env []string) *daemon {
	t.Helper()
	cmd := exec.Command(bins.daemon, settingsFile)
	cmd.Env = env
	return startDaemonCmd(t, cmd)
}

// memory reads a field of /proc/PID/status (VmHWM, VmRSS) in KiB.
func memory(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// spaces yields n spaces without holding them: a huge body that costs the
// test no memory.
type spaces struct{ left int64 }

func (p *spaces) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range b[:n] {
		b[i] = ' '
	}
	p.left -= n
	return int(n), nil
}
