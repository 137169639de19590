//go:build hostile

package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// Commands that misbehave end as DESIGN.md says, with no process of theirs
// left and no later command run: a hang is stopped at its timeout (SIGTERM,
// kill_grace, SIGKILL), background children are killed when the command
// exits, stdin is empty, and output is capped in the job log.
func TestHostileCommands(t *testing.T) {
	cases := []struct {
		name    string
		command string
		state   job.State
		within  time.Duration // from the start of the job
		errHas  string
		logHas  string
	}{
		{"hang", `echo $$ >> %[1]s/pids; sleep 600`, job.TimedOut, 5 * time.Second, "timed out", ""},
		{"hang ignoring SIGTERM", `trap "" TERM; echo $$ >> %[1]s/pids; while :; do sleep 0.05; done`,
			job.TimedOut, 5 * time.Second, "timed out", ""},
		{"hang in a grandchild", `sh -c 'echo $$ >> %[1]s/pids; sleep 600'; true`, job.TimedOut, 5 * time.Second,
			"timed out", ""},
		{"background grandchild holding stdout", `sleep 600 & echo $! >> %[1]s/pids; echo started`,
			job.Succeeded, 5 * time.Second, "", "background processes held the output"},
		{"background grandchild with stdout closed", `sleep 600 >/dev/null 2>&1 & echo $! >> %[1]s/pids; echo started`,
			job.Succeeded, 5 * time.Second, "", ""},
		{"grandchild escaping the group, holding stdout", `setsid sleep 600 & echo $! >> %[1]s/pids; echo started`,
			job.Succeeded, 5 * time.Second, "", "background processes held the output"},
		{"grandchild escaping the group of a hang", `setsid sleep 600 & echo $! >> %[1]s/pids; echo $$ >> %[1]s/pids; sleep 600`,
			job.TimedOut, 6 * time.Second, "timed out", ""},
		{"reading stdin", `cat; read line || echo "stdin at EOF"`, job.Succeeded, 5 * time.Second, "", "stdin at EOF"},
		{"reading stdin in a loop", `while read -r l; do :; done; echo done`, job.Succeeded, 5 * time.Second, "", "done"},
		{"1 GB of output", `echo FIRST; head -c 1073741824 /dev/zero | tr '\0' x; echo; echo LAST`,
			job.Succeeded, 60 * time.Second, "", "bytes cut ...]"},
		{"output without newlines and binary", `head -c 20000000 /dev/urandom`, job.Succeeded, 30 * time.Second, "", ""},
	}
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := "1500ms"
			if tc.within > 10*time.Second {
				timeout = "50s"
			}
			quoted := strings.ReplaceAll(tc.command, "'", "''") // a YAML single-quoted string
			s := newSite(t, up.Path(), "{commands: ['"+quoted+"', 'touch %[1]s/second'], timeout: "+timeout+"}", "")
			start := time.Now()
			rec := s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
			took := time.Since(start)
			t.Logf("%s after %s: %s", rec.State, took, rec.Error)
			if rec.State != tc.state || !strings.Contains(rec.Error, tc.errHas) {
				t.Errorf("job %s (%q), want %s with %q", rec.State, rec.Error, tc.state, tc.errHas)
			}
			if took > tc.within {
				t.Errorf("job took %s, want at most %s", took, tc.within)
			}
			noneLeft(t, pidsIn(t, filepath.Join(s.dir, "pids")))
			if ran := testkit.Exists(filepath.Join(s.dir, "second")); ran != (tc.state == job.Succeeded) {
				t.Errorf("second command ran: %v, want %v", ran, tc.state == job.Succeeded)
			}
			log := testkit.ReadIfExists(rec.Log)
			if !strings.Contains(log, tc.logHas) {
				t.Errorf("job log lacks %q:\n%.2000s", tc.logHas, log)
			}
			if fi, err := os.Stat(rec.Log); err != nil || fi.Size() > 3<<20 {
				t.Errorf("job log %v, want at most ~2 MiB", err)
			}
		})
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapSys > 256<<20 {
		t.Errorf("heap grew to %d MiB while commands wrote over 1 GB", m.HeapSys>>20)
	}
}

// pidsIn reads the pids the commands wrote to path, one per field.
func pidsIn(t *testing.T, path string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(testkit.ReadIfExists(path)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s holds %q", path, f)
		}
		out = append(out, n)
	}
	return out
}

// noneLeft fails the test if any of pids is still alive after a second,
// and kills those that are.
func noneLeft(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for _, p := range pids {
		for testkit.Alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if testkit.Alive(p) {
			t.Errorf("process %d outlived its command", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}
