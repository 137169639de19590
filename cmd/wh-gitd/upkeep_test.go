package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// TestTriggerLeavesUpkeepToItsOwnProcess runs jobs with wh-git-trigger (no
// daemon) on a full-history working copy until its packs call for a merge:
// the command returns without having merged them, and a process of its own
// merges them once it has exited, its lines appended to the job's log after
// the job's own.
func TestTriggerLeavesUpkeepToItsOwnProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	up.Commit(t, "main", map[string]string{"f": "0"}, "0")
	f := testkit.File{Repos: []testkit.Repo{{Remote: up.Path(), Extra: "depth: 0"}}}
	file := f.Write(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	packDir := filepath.Join(dir, "wc-site", ".git", "objects", "pack")
	jobID := regexp.MustCompile(`job (\S+): site branch main`)
	detached := regexp.MustCompile(`object-store upkeep continues in process (\d+) once this one has exited`)
	var stdout, id string
	for i := 1; ; i++ {
		up.Commit(t, "main", map[string]string{"f": fmt.Sprint(i)}, fmt.Sprint(i))
		var code int
		var stderr string
		code, stdout, stderr = exitCode(t, bins.trigger, file, "site")
		if code != 0 {
			t.Fatalf("job %d: exit %d\nstdout: %s\nstderr: %s", i, code, stdout, stderr)
		}
		if detached.MatchString(stdout) {
			id = jobID.FindStringSubmatch(stdout)[1]
			break
		}
		if strings.Contains(stdout, "merged") || i == 40 {
			t.Fatalf("job %d: no upkeep left to a process of its own\n%s", i, stdout)
		}
	}
	if strings.Contains(stdout, "merged") {
		t.Errorf("wh-git-trigger merged the packs itself:\n%s", stdout)
	}
	logPath := filepath.Join(dir, "state", "jobs", id+".log")
	var log string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		if log = string(b); strings.Contains(log, "object-store upkeep ended in ") {
			break
		}
	}
	end := strings.Index(log, "job "+id+" succeeded")
	merged := strings.Index(log, "merged")
	ended := strings.Index(log, "object-store upkeep ended in ")
	if end < 0 || merged < end || ended < merged {
		t.Fatalf("job log: want the job's end, then the upkeep's merge and its end:\n%s", log)
	}
	packs, err := filepath.Glob(filepath.Join(packDir, "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) != 2 {
		t.Errorf("%d packs after the upkeep, want 2 (the largest and the merged one): %v", len(packs), packs)
	}
	if out, err := exec.Command("git", "-C", filepath.Join(dir, "wc-site"), "fsck", "--full", "--strict").CombinedOutput(); err != nil {
		t.Errorf("git fsck after the upkeep: %v\n%s", err, out)
	}
}
