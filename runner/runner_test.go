package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// site is one repository entry "site" on a runner with real gitsync.
type site struct {
	rn    *runner.Runner
	store *jobstore.Store
	set   *settings.Settings
	dir   string        // the settings' folder, free for the test's files
	logs  *bytes.Buffer // the runner's log
}

// newSite loads settings with one entry "site" fetching remote, whose
// branch main is the YAML flow mapping main, with extra added to the
// entry; in main and extra %[1]s is the site's folder. kill_grace is 500ms.
func newSite(t *testing.T, remote, main, extra string) *site {
	t.Helper()
	dir := t.TempDir()
	scratch := strings.NewReplacer("%[1]s", dir)
	set := testkit.File{Top: "kill_grace: 500ms", Repos: []testkit.Repo{{Remote: remote, Path: "wc",
		Extra: scratch.Replace(extra), Branches: []testkit.Target{{YAML: scratch.Replace(main)}}}}}.Load(t, dir)
	s := &site{set: set, dir: dir, logs: &bytes.Buffer{}}
	log := zerolog.New(zerolog.SyncWriter(s.logs))
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.store = store
	s.rn = runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(log), Prober: gitsyncer.New(log),
		Store: store, Logger: log})
	return s
}

// path is the entry's working copy.
func (s *site) path() string { return s.set.Repos["site"].Path }

// setup is newSite on a new upstream, with branch main running commands (a
// YAML flow list) under timeout.
func setup(t *testing.T, commands, timeout, extra string) (*site, *gitsynctest.Upstream) {
	t.Helper()
	up := gitsynctest.NewUpstream(t)
	return newSite(t, up.Path(), "{commands: "+commands+", timeout: "+timeout+"}", extra), up
}

// mainJob is a job of event for branch main of the entry site at sha.
func mainJob(event, sha string) *job.Job {
	return &job.Job{Repo: "site", Provider: "github", Event: event, Ref: "refs/heads/main",
		Branch: "main", SHA: sha}
}

func TestJobStates(t *testing.T) {
	cases := []struct {
		name     string
		commands string
		timeout  string
		state    job.State
		ran      int
		errHas   string
	}{
		{"succeeded", `['true', 'echo ok']`, "10s", job.Succeeded, 2, ""},
		{"stops at the first failure", `['true', 'exit 4', 'touch never']`, "10s", job.Failed, 2, "exit status 4"},
		{"timed out", `['sleep 600', 'touch never']`, "300ms", job.TimedOut, 1, "timed out"},
		{"command not found", `[[/nonexistent/bin]]`, "10s", job.Failed, 1, "nonexistent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, up := setup(t, tc.commands, tc.timeout, "")
			sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
			res := s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
			if res.State != tc.state || len(res.Commands) != tc.ran || !strings.Contains(res.Error, tc.errHas) {
				t.Fatalf("state %s, %d commands, error %q; want %s, %d, %q", res.State, len(res.Commands),
					res.Error, tc.state, tc.ran, tc.errHas)
			}
			if testkit.Exists(filepath.Join(s.path(), "never")) {
				t.Error("a command after the failure ran")
			}
			log := testkit.ReadFile(t, res.Log)
			if !strings.Contains(log, "job "+res.Job.ID) || !strings.Contains(log, string(tc.state)) {
				t.Errorf("job log lacks its summary:\n%s", log)
			}
		})
	}
}

func TestSyncFailureRunsNoCommand(t *testing.T) {
	s, up := setup(t, `['touch ran']`, "10s", "")
	up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	res := s.rn.Run(context.Background(), mainJob(job.EventManual, strings.Repeat("ab", 20)), nil)
	if res.State != job.Failed || !strings.Contains(res.Error, "sync site") {
		t.Fatalf("state %s error %q", res.State, res.Error)
	}
	if testkit.Exists(filepath.Join(s.path(), "ran")) {
		t.Error("a command ran after the sync failed")
	}
}

// 50 MB of output: the job log keeps head and tail only, and the daemon's
// heap does not grow with the output.
func TestLargeOutputKeepsMemoryBounded(t *testing.T) {
	s, up := setup(t, `['head -c 52428800 /dev/zero | tr "\\0" x; echo; echo END']`, "60s", "")
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	stop, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	res := s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
	close(stop)
	<-finished
	if res.State != job.Succeeded {
		t.Fatalf("state %s: %s", res.State, res.Error)
	}
	fi, err := os.Stat(res.Log)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 3<<20 {
		t.Errorf("job log is %d bytes for 50 MB of output, want at most ~2 MiB", fi.Size())
	}
	if grew := int64(peak) - int64(before.HeapInuse); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB while the command printed 50 MB", grew>>20)
	}
	log := testkit.ReadIfExists(res.Log)
	if !strings.Contains(log, "bytes cut ...]") || !strings.Contains(log, "END") {
		t.Error("job log lacks the cut marker or the tail")
	}
}

// With history.keep 5, fifty jobs leave five records and five log files.
func TestHistoryRetention(t *testing.T) {
	s, up := setup(t, `['echo hi']`, "10s", "history: {keep: 5}")
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	var last job.Record
	for range 50 {
		last = s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
		if last.State != job.Succeeded {
			t.Fatalf("job %s: %s", last.State, last.Error)
		}
	}
	recs, err := s.rn.List(job.Filter{Repo: "site", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[0].Job.ID != last.Job.ID {
		t.Fatalf("%d records kept (newest %v), want 5 ending with %s", len(recs), recs[0].Job.ID, last.Job.ID)
	}
	logs, _ := filepath.Glob(filepath.Join(s.set.StateDir, "jobs", "*.log"))
	if len(logs) != 5 {
		t.Errorf("%d log files kept, want 5", len(logs))
	}
	for _, rec := range recs {
		if _, err := os.Stat(rec.Log); err != nil {
			t.Errorf("kept job %s has no log: %v", rec.Job.ID, err)
		}
	}
}

// The poll deploys a branch that moved without a delivery, once per head.
func TestPollDeploysMissedPushes(t *testing.T) {
	s, up := setup(t, `['true']`, "10s", "poll: 1s")
	if _, err := s.rn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.rn.Close(context.Background()) })
	deployed := func(sha string) int {
		n := 0
		recs, err := s.rn.List(job.Filter{Repo: "site", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Job.Event == job.EventPoll && rec.Job.SHA == sha && rec.State == job.Succeeded {
				n++
			}
		}
		return n
	}
	for _, content := range []string{"1", "2"} {
		sha := up.Commit(t, "main", map[string]string{"f": content}, "pushed without a delivery")
		testkit.Eventually(t, "the poll to deploy "+sha, 20*time.Second, func() bool { return deployed(sha) > 0 })
		time.Sleep(2500 * time.Millisecond) // two more polls of the same head
		if n := deployed(sha); n != 1 {
			t.Errorf("%d poll jobs for one head, want 1", n)
		}
	}
}

// The object store's upkeep (here: dropping the packs of a shallow working
// copy that later fetches superseded) runs after the job's commands and
// after its result is recorded, not between the sync and the first command,
// and keeps the packs few.
func TestMaintenanceAfterCommands(t *testing.T) {
	s, up := setup(t, `['echo COMMAND-RAN']`, "10s", "")
	store, err := jobstore.Open(t.TempDir(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var atDone []string // each job's log as it was when its result was recorded
	rn := runner.New(runner.Options{Settings: s.set, Syncer: gitsyncer.New(zerolog.Nop()), Store: store,
		Logger: zerolog.Nop(), OnDone: func(r job.Record) {
			atDone = append(atDone, testkit.ReadIfExists(r.Log))
		}})
	dropped := false
	for i := range 6 {
		sha := up.Commit(t, "main", map[string]string{"f": fmt.Sprint(i)}, "next")
		res := rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
		if res.State != job.Succeeded {
			t.Fatalf("job %d: %s %s", i, res.State, res.Error)
		}
		log := testkit.ReadFile(t, res.Log)
		at := strings.Index(log, "superseded by later fetches")
		if at < 0 {
			continue
		}
		dropped = true
		if ran := strings.Index(log, "COMMAND-RAN"); ran < 0 || ran > at {
			t.Errorf("job %d: maintenance before the command:\n%s", i, log)
		}
		if len(atDone) != i+1 || strings.Contains(atDone[i], "superseded by later fetches") {
			t.Errorf("job %d: maintenance before the result was recorded:\n%s", i, log)
		}
	}
	if !dropped {
		t.Error("no job log says superseded packs were dropped")
	}
	packs, _ := filepath.Glob(filepath.Join(s.path(), ".git", "objects", "pack", "*.pack"))
	if len(packs) > 3 {
		t.Errorf("%d packs after 6 shallow syncs, want at most 3", len(packs))
	}
}

// A push whose tip is already deployed by a job that succeeded runs
// nothing, unless the entry sets always_run or the last run failed; a
// manual run always runs.
func TestSkipWhenTipDeployed(t *testing.T) {
	cases := []struct {
		name   string
		extra  string
		second *job.Job // nil: a push of the same commit
		fail   bool     // the first run fails
		want   job.State
		runs   int // times the last command ran, both jobs together
	}{
		{"same tip again", "", nil, false, job.Skipped, 1},
		{"always_run", "always_run: true", nil, false, job.Succeeded, 2},
		{"after a failed run", "", nil, true, job.Succeeded, 1},
		{"manual run", "", mainJob(job.EventManual, ""), false, job.Succeeded, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, up := setup(t, `['test ! -e "$FAIL"', 'echo "$WH_SHA" >> ran']`, "10s", tc.extra)
			sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
			fail := filepath.Join(t.TempDir(), "fail")
			s.set.Repos["site"].Branches["main"].Env = map[string]string{"FAIL": fail}
			if tc.fail {
				testkit.Touch(t, fail)
			}
			first := s.rn.Run(context.Background(), mainJob(job.EventPush, sha), nil)
			os.Remove(fail)
			second := tc.second
			if second == nil {
				second = mainJob(job.EventPush, sha)
			}
			res := s.rn.Run(context.Background(), second, nil)
			if res.State != tc.want || res.Deployed != sha {
				t.Fatalf("second job %s at %s (%s, note %q); want %s at %s (first: %s)", res.State, res.Deployed,
					res.Error, res.Note, tc.want, sha, first.State)
			}
			if runs := strings.Count(testkit.ReadIfExists(filepath.Join(s.path(), "ran")), sha); runs != tc.runs {
				t.Errorf("commands ran %d times, want %d", runs, tc.runs)
			}
		})
	}
}

// A job queued and a job it supersedes each make an Info line with the
// job's fields; a logger at Warn gets neither.
func TestQueueLinesAtInfoOnly(t *testing.T) {
	for _, level := range []zerolog.Level{zerolog.InfoLevel, zerolog.WarnLevel} {
		s, up := setup(t, `['sleep 2']`, "10s", "")
		sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
		store, err := jobstore.Open(t.TempDir(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		rn := runner.New(runner.Options{Settings: s.set, Syncer: gitsyncer.New(zerolog.Nop()), Store: store,
			Logger: zerolog.New(zerolog.SyncWriter(&logs)).Level(level)})
		if _, err := rn.Start(); err != nil {
			t.Fatal(err)
		}
		submit := func(delivery string) job.Receipt {
			jb := mainJob(job.EventPush, sha)
			jb.Delivery = delivery
			rc, err := rn.Submit(jb)
			if err != nil {
				t.Fatal(err)
			}
			return rc
		}
		first := submit("d1")
		testkit.Eventually(t, "the first job to run", 20*time.Second, func() bool {
			rec, err := rn.Get(first.ID)
			return err == nil && rec.State == job.Running
		})
		waiting, newer := submit("d2"), submit("d3")
		_ = rn.Close(context.Background())
		store.Close()
		out := logs.String()
		superseded := fmt.Sprintf(`"job":%q,"repo":"site","delivery":"d2"`, waiting.ID)
		queued := fmt.Sprintf(`"job":%q,"repo":"site","delivery":"d3"`, newer.ID)
		got := strings.Contains(out, superseded) && strings.Contains(out, `"superseded_by":"`+newer.ID+`"`) &&
			strings.Contains(out, queued) && strings.Contains(out, "job queued")
		if level == zerolog.InfoLevel && (!got || newer.Supersedes != waiting.ID) {
			t.Errorf("at info: receipt %+v, log:\n%s", newer, out)
		}
		if level == zerolog.WarnLevel && (strings.Contains(out, "job queued") || strings.Contains(out, "job superseded")) {
			t.Errorf("at warn, info lines:\n%s", out)
		}
	}
}
