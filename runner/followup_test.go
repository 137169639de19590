package runner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// report is a follow-up command that appends its name, $WH_RESULT and
// $WH_FAILED_COMMAND to the file "seen" in the site's folder.
func report(name string) string {
	return `'echo "` + name + ` $WH_RESULT [$WH_FAILED_COMMAND] $WH_SHA" >> %[1]s/seen'`
}

func TestFollowUpCommands(t *testing.T) {
	cases := []struct {
		name     string
		target   string
		state    job.State
		seen     string // lines of "seen", %s is the deployed commit
		commands []string
	}{
		{"success runs always only",
			"{commands: ['true'], on_failure: [" + report("fail") + "], always: [" + report("always") + "], timeout: 10s}",
			job.Succeeded, "always succeeded [] %s", []string{"|true", "always|echo"}},
		{"failure runs on_failure then always",
			"{commands: ['true', 'exit 3', 'touch never'], on_failure: [" + report("fail") + "], always: [" + report("always") + "], timeout: 10s}",
			job.Failed, "fail failed [exit 3] %s\nalways failed [exit 3] %s",
			[]string{"|true", "|exit 3", "on_failure|echo", "always|echo"}},
		{"time-out runs on_failure",
			"{commands: ['sleep 600'], on_failure: [" + report("fail") + "], timeout: 300ms}",
			job.TimedOut, "fail timed_out [sleep 600] %s", []string{"|sleep 600", "on_failure|echo"}},
		{"a failing follow-up changes nothing",
			"{commands: ['true'], always: ['exit 5', " + report("never") + "], timeout: 10s}",
			job.Succeeded, "", []string{"|true", "always|exit 5"}},
		{"on_failure failing still runs always",
			"{commands: ['false'], on_failure: ['exit 7'], always: [" + report("always") + "], timeout: 10s}",
			job.Failed, "always failed [false] %s", []string{"|false", "on_failure|exit 7", "always|echo"}},
		{"a follow-up that hangs is timed out",
			"{commands: ['true'], always: ['sleep 600', " + report("never") + "], timeout: 300ms}",
			job.Succeeded, "", []string{"|true", "always|sleep 600"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := gitsynctest.NewUpstream(t)
			s := newSite(t, up.Path(), tc.target, "")
			sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
			res := s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
			if res.State != tc.state {
				t.Fatalf("state %s (%s), want %s", res.State, res.Error, tc.state)
			}
			want := strings.ReplaceAll(tc.seen, "%s", sha)
			if got := strings.TrimSpace(testkit.ReadIfExists(filepath.Join(s.dir, "seen"))); got != want {
				t.Errorf("follow-up commands saw:\n%s\nwant:\n%s", got, want)
			}
			assertPhases(t, res.Commands, tc.commands)
			if testkit.Exists(filepath.Join(s.path(), "never")) {
				t.Error("a main command ran after the failure")
			}
		})
	}
}

// assertPhases compares "phase|command prefix" of every recorded command.
func assertPhases(t *testing.T, cs []job.CommandResult, want []string) {
	t.Helper()
	if len(cs) != len(want) {
		t.Fatalf("%d commands recorded, want %d: %+v", len(cs), len(want), cs)
	}
	for i, c := range cs {
		phase, prefix, _ := strings.Cut(want[i], "|")
		if c.Phase != phase || !strings.HasPrefix(c.Command, prefix) {
			t.Errorf("command %d: phase %q command %q, want phase %q command %q...", i, c.Phase, c.Command, phase, prefix)
		}
	}
}

// A sync that fails runs on_failure and always, with no commit: in the
// commands' folder when it exists, else in the working copy.
func TestFollowUpAfterSyncFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exists bool
	}{{"commit not found", true}, {"remote gone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			up := gitsynctest.NewUpstream(t)
			up.Commit(t, "main", map[string]string{"app/f": "1"}, "one")
			remote := up.Path()
			if !tc.exists {
				remote = filepath.Join(t.TempDir(), "gone.git")
			}
			s := newSite(t, remote, "{workdir: app, commands: ['touch ran'], on_failure: ["+report("fail")+
				", 'pwd > %[1]s/where'], always: ["+report("always")+"], timeout: 10s}", "")
			if tc.exists { // a first deploy makes the commands' folder
				s.rn.Run(context.Background(), mainJob(job.EventManual, ""), nil)
				if err := os.Remove(filepath.Join(s.dir, "seen")); err != nil {
					t.Fatal(err)
				}
			}
			res := s.rn.Run(context.Background(), mainJob(job.EventManual, strings.Repeat("ab", 20)), nil)
			if res.State != job.Failed || !strings.Contains(res.Error, "sync site") {
				t.Fatalf("state %s error %q", res.State, res.Error)
			}
			if got := testkit.ReadFile(t, filepath.Join(s.dir, "seen")); got != "fail failed [] \nalways failed [] \n" {
				t.Errorf("follow-up commands saw %q", got)
			}
			want := filepath.Join(s.path(), "app")
			if !tc.exists {
				want = s.path()
			}
			if got := strings.TrimSpace(testkit.ReadFile(t, filepath.Join(s.dir, "where"))); got != want {
				t.Errorf("on_failure ran in %s, want %s", got, want)
			}
			assertPhases(t, res.Commands, []string{"on_failure|echo", "on_failure|pwd", "always|echo"})
		})
	}
}

// A skipped push ran nothing, and so runs no follow-up command either.
func TestSkippedJobRunsNoFollowUp(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	s := newSite(t, up.Path(), "{commands: ['true'], always: ["+report("always")+"], timeout: 10s}", "")
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	for i, want := range []job.State{job.Succeeded, job.Skipped} {
		if res := s.rn.Run(context.Background(), mainJob(job.EventPush, sha), nil); res.State != want {
			t.Fatalf("run %d: state %s (%s), want %s", i+1, res.State, res.Error, want)
		}
	}
	if got := testkit.ReadFile(t, filepath.Join(s.dir, "seen")); got != "always succeeded [] "+sha+"\n" {
		t.Errorf("follow-up commands saw %q", got)
	}
}

// Cancelling a job stops its command but not its always commands.
func TestFollowUpAfterCancel(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	s := newSite(t, up.Path(), "{commands: ['touch %[1]s/started; sleep 600'], on_failure: ["+report("fail")+
		"], always: ["+report("always")+"], timeout: 60s}", "")
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	jb := mainJob(job.EventManual, sha)
	jb.ID = "20261203T000000-cancel"
	done := make(chan job.Record, 1)
	go func() { done <- s.rn.Run(context.Background(), jb, nil) }()
	testkit.WaitFile(t, filepath.Join(s.dir, "started"))
	if err := s.rn.Cancel(jb.ID); err != nil {
		t.Fatal(err)
	}
	var res job.Record
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled job did not end")
	}
	if res.State != job.Cancelled {
		t.Fatalf("state %s, want cancelled", res.State)
	}
	if got := testkit.ReadFile(t, filepath.Join(s.dir, "seen")); got != "always cancelled [] "+sha+"\n" {
		t.Errorf("follow-up commands saw %q", got)
	}
}

// A job whose every attempt was interrupted runs again at start until its
// third attempt; then it is recorded failed, and its commands run no more.
func TestInterruptedJobRunsAtMostThreeTimes(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		state    job.State
		ran      bool
	}{{1, job.Succeeded, true}, {2, job.Succeeded, true}, {3, job.Failed, false}} {
		t.Run(fmt.Sprint(tc.attempts), func(t *testing.T) {
			up := gitsynctest.NewUpstream(t)
			s := newSite(t, up.Path(), "{commands: ['touch %[1]s/ran'], timeout: 10s}", "")
			jb := mainJob(job.EventPush, up.Commit(t, "main", map[string]string{"f": "1"}, "one"))
			jb.ID = "20261203T000000-interrupted"
			jb.Queued = time.Now()
			if err := s.store.Accept(&job.Record{Job: jb, State: job.Queued}, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Put(&job.Record{Job: jb, State: job.Running, Attempts: tc.attempts}); err != nil {
				t.Fatal(err)
			}
			resumed, err := s.rn.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.rn.Close(context.Background()) })
			if want := map[bool]int{true: 1}[tc.ran]; resumed != want {
				t.Errorf("resumed %d jobs, want %d", resumed, want)
			}
			var rec *job.Record
			testkit.Eventually(t, "the job's final state", 30*time.Second, func() bool {
				rec, err = s.store.Get(jb.ID)
				return err == nil && rec.State.Final()
			})
			if rec.State != tc.state || testkit.Exists(filepath.Join(s.dir, "ran")) != tc.ran {
				t.Fatalf("state %s (%s), commands ran: %v; want %s, %v", rec.State, rec.Error,
					testkit.Exists(filepath.Join(s.dir, "ran")), tc.state, tc.ran)
			}
			if !tc.ran && !strings.Contains(rec.Error, "interrupted in each of its 3 attempts") {
				t.Errorf("error %q", rec.Error)
			}
		})
	}
}
