//go:build hostile

package runner_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// site is one repository entry "site" on a runner with real gitsync.
type site struct {
	rn   *runner.Runner
	set  *settings.Settings
	dir  string
	logs *bytes.Buffer
}

// newSite loads settings with one entry "site" fetching remote, whose
// branch main is the YAML mapping main, with entry added to the entry; in
// main and entry %[1]s is a scratch folder. kill_grace is 500ms.
func newSite(t *testing.T, remote, main, entry string) *site {
	t.Helper()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`state_dir: state
kill_grace: 500ms
repos:
  site:
    provider: github
    repository: acme/site
    remote: %s
    path: wc
    secret: s-secret-0123456789
%s    branches:
      main: %s
`, remote, strings.ReplaceAll(entry, "%[1]s", dir), strings.ReplaceAll(main, "%[1]s", dir))
	file := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := settings.Load(file, nil)
	if err != nil {
		t.Fatalf("settings:\n%s\n%v", yaml, err)
	}
	s := &site{set: set, dir: dir, logs: &bytes.Buffer{}}
	log := zerolog.New(zerolog.SyncWriter(s.logs))
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.rn = runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(log), Store: store, Logger: log})
	return s
}

func (s *site) path() string { return s.set.Repos["site"].Path }

func manualJob(sha string) *job.Job {
	return &job.Job{Repo: "site", Provider: "github", Event: job.EventManual, Ref: "refs/heads/main",
		Branch: "main", SHA: sha}
}

// pidsIn reads the pids the commands wrote to path, one per field.
func pidsIn(t *testing.T, path string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(readIfExists(path)) {
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
		for runner.Alive(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if runner.Alive(p) {
			t.Errorf("process %d outlived its command", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func readIfExists(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
