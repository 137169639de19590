//go:build hostile

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startDaemonEnv is startDaemon with the daemon's environment set to env.
func startDaemonEnv(t *testing.T, settingsFile string, env []string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bins.daemon, settingsFile), done: make(chan error, 1)}
	d.cmd.Env = env
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.log.Write(append(sc.Bytes(), '\n'))
			d.mu.Unlock()
			var line struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "wh-gitd started" {
				addr <- line.Listen
			}
		}
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
	})
	select {
	case d.addr = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not start:\n%s", d.logs())
	}
	return d
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
