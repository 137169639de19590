package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

// A background process that left the command's process group (setsid) but
// holds its output does not hold the job: it is found and killed when the
// command exits, and the job goes on.
func TestEscapedHolderIsKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	env := append(baseEnv(os.Environ()), "PIDFILE="+pidFile)
	var out bytes.Buffer
	start := time.Now()
	err := runCommand(context.Background(), settings.Command{Shell: "setsid sleep 600 & echo $! > $PIDFILE; echo started"},
		dir, env, 30*time.Second, 300*time.Millisecond, &out, nil)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if !strings.HasPrefix(out.String(), "started\n") || !strings.Contains(out.String(), "held the output") {
		t.Errorf("output %q", out.String())
	}
	waitGone(t, pids(t, pidFile))
}
