package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// pids reads the pids a test command wrote, one a line.
func pids(t *testing.T, path string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(testkit.ReadFile(t, path)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file holds %q", f)
		}
		out = append(out, n)
	}
	return out
}

// waitGone waits until none of pids is a live process.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("processes %v to end", pids), 5*time.Second, func() bool {
		for _, p := range pids {
			if testkit.Alive(p) {
				return false
			}
		}
		return true
	})
}

func TestRunCommand(t *testing.T) {
	sh := func(s string) settings.Command { return settings.Command{Shell: s} }
	cases := []struct {
		name     string
		cmd      settings.Command
		timeout  time.Duration
		wantOut  string
		wantErr  func(*CommandError) bool
		maxTook  time.Duration
		pidsLeft bool   // the command writes $PIDFILE; all must be gone after
		wantNote string // printed by runCommand after the command's output
	}{
		{name: "success", cmd: sh("echo hello; echo err >&2"), timeout: 5 * time.Second,
			wantOut: "hello\nerr\n"},
		{name: "argv runs without a shell", cmd: settings.Command{Argv: []string{"echo", "$(touch x)", ";"}},
			timeout: 5 * time.Second, wantOut: "$(touch x) ;\n"},
		{name: "exit status", cmd: sh("exit 3"), timeout: 5 * time.Second,
			wantErr: func(e *CommandError) bool { return e.ExitCode == 3 && !e.TimedOut }},
		{name: "stdin is empty", cmd: sh("cat; echo done"), timeout: 5 * time.Second, wantOut: "done\n"},
		{name: "hang is killed at the timeout", cmd: sh("echo $$ > $PIDFILE; sleep 600"),
			timeout: 300 * time.Millisecond, pidsLeft: true, maxTook: 5 * time.Second,
			wantErr: func(e *CommandError) bool { return e.TimedOut }},
		{name: "SIGTERM ignored gets SIGKILL", cmd: sh("trap '' TERM; echo $$ > $PIDFILE; while :; do sleep 0.05; done"),
			timeout: 300 * time.Millisecond, pidsLeft: true, maxTook: 5 * time.Second,
			wantErr: func(e *CommandError) bool { return e.TimedOut }},
		{name: "background child holding stdout", cmd: sh("sleep 600 & echo $! > $PIDFILE; echo started"),
			timeout: 30 * time.Second, pidsLeft: true, wantOut: "started\n", maxTook: 10 * time.Second,
			wantNote: "background processes held the output; killed them"},
		{name: "background child of a timed-out command", cmd: sh("sleep 600 & echo $! >> $PIDFILE; echo $$ >> $PIDFILE; wait"),
			timeout: 300 * time.Millisecond, pidsLeft: true, maxTook: 5 * time.Second,
			wantErr: func(e *CommandError) bool { return e.TimedOut }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pids")
			env := append(baseEnv(os.Environ()), "PIDFILE="+pidFile)
			var out bytes.Buffer
			begin := time.Now()
			err := runCommand(context.Background(), tc.cmd, dir, env, tc.timeout, 500*time.Millisecond, &out, nil)
			took := time.Since(begin)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err = %v, want nil (output %q)", err, out.String())
			}
			if tc.wantErr != nil {
				var ce *CommandError
				if !errors.As(err, &ce) || !tc.wantErr(ce) {
					t.Fatalf("err = %#v, not the expected CommandError", err)
				}
			}
			got, note, _ := strings.Cut(out.String(), "\n[wh-gitd: ")
			if tc.wantOut != "" && got != tc.wantOut {
				t.Errorf("output = %q, want %q", got, tc.wantOut)
			}
			if !strings.Contains(note, tc.wantNote) || (tc.wantNote == "") != (note == "") {
				t.Errorf("note after the output = %q, want %q", note, tc.wantNote)
			}
			if tc.maxTook > 0 && took > tc.maxTook {
				t.Errorf("took %s, want at most %s", took, tc.maxTook)
			}
			if tc.pidsLeft {
				waitGone(t, pids(t, pidFile))
			}
			if testkit.Exists(filepath.Join(dir, "x")) {
				t.Error("argv command went through a shell")
			}
		})
	}
}

func TestRunCommandCancel(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	env := append(baseEnv(os.Environ()), "PIDFILE="+pidFile)
	err := runCommand(ctx, settings.Command{Shell: "echo $$ > $PIDFILE; sleep 600"}, dir, env,
		time.Minute, 500*time.Millisecond, &bytes.Buffer{}, nil)
	var ce *CommandError
	if !errors.As(err, &ce) || !ce.Cancelled {
		t.Fatalf("err = %v, want a cancelled CommandError", err)
	}
	waitGone(t, pids(t, pidFile))
}

// A command printing 50 MB through the job's capped log keeps head and tail
// and marks the cut; memory is bounded by the caps, not the output.
func TestRunCommandLargeOutputIsCapped(t *testing.T) {
	var file bytes.Buffer
	cw := newCapWriter(&file, 64<<10, 64<<10)
	cmd := settings.Command{Shell: "echo FIRST; head -c 52428800 /dev/zero | tr '\\0' 'x'; echo; echo LAST"}
	err := runCommand(context.Background(), cmd, t.TempDir(), baseEnv(os.Environ()), time.Minute, time.Second, cw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	got := file.String()
	if len(got) > 200<<10 {
		t.Fatalf("log holds %d bytes, want at most ~128 KiB", len(got))
	}
	for _, want := range []string{"FIRST\n", "bytes cut ...]", "LAST\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestCommandEnvIsAllowListed(t *testing.T) {
	environ := []string{"PATH=/bin:/usr/bin", "HOME=/home/wh", "WH_GITD_REPOS__SITE__SECRET=s3cret",
		"AWS_SECRET_ACCESS_KEY=x", "LANG=C.UTF-8"}
	jb := &job.Job{ID: "j1", Repo: "site", Event: job.EventPush, Ref: "refs/heads/main", Branch: "main",
		Before: "b", Delivery: "d1"}
	repo := &settings.Repo{Provider: "github", Secret: "s3cret"}
	target := &settings.Target{Env: map[string]string{"APP_ENV": "prod"}}
	env := commandEnv(baseEnv(environ), jb, repo, target, "abc", "/p")
	joined := strings.Join(env, "\n")
	for _, bad := range []string{"s3cret", "AWS_SECRET", "WH_GITD_"} {
		if strings.Contains(joined, bad) {
			t.Errorf("command environment contains %q:\n%s", bad, joined)
		}
	}
	for _, want := range []string{"PATH=/bin:/usr/bin", "HOME=/home/wh", "LANG=C.UTF-8", "APP_ENV=prod",
		"WH_REPO=site", "WH_SHA=abc", "WH_BRANCH=main", "WH_REF=refs/heads/main", "WH_JOB=j1",
		"WH_DELIVERY=d1", "WH_PAYLOAD=/p", "WH_PROVIDER=github", "WH_EVENT=push", "WH_BEFORE=b"} {
		if !strings.Contains("\n"+joined+"\n", "\n"+want+"\n") {
			t.Errorf("command environment lacks %q", want)
		}
	}
}

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

func TestCapWriter(t *testing.T) {
	cases := []struct {
		name       string
		head, tail int
		writes     []string
		want       string
	}{
		{"under the head", 10, 5, []string{"abc", "def"}, "abcdef"},
		{"head then tail, nothing cut", 3, 5, []string{"abcdef"}, "abcdef"},
		{"cut in the middle", 3, 3, []string{"abc", "1234", "xyz"}, "abc\n[... 4 bytes cut ...]\nxyz"},
		{"one big write", 2, 2, []string{"0123456789"}, "01\n[... 6 bytes cut ...]\n89"},
		{"many small writes wrap the ring", 1, 3, strings.Split("abcdefgh", ""), "a\n[... 4 bytes cut ...]\nfgh"},
		{"no tail", 2, 0, []string{"abcd"}, "ab\n[... 2 bytes cut ...]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			c := newCapWriter(&b, tc.head, tc.tail)
			for _, w := range tc.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// A job whose output stays under the head must not pay for the tail's
// ring: the daemon makes a capWriter for every job, hundreds a second when
// deliveries pour in, each with a MiB tail.
func TestCapWriterSmallOutputMakesNoRing(t *testing.T) {
	const runs = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		c := newCapWriter(io.Discard, logHead, logTail)
		_, _ = c.Write([]byte("checkout 23919c5 from 23919c5: 0 written, 0 removed\n"))
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > runs*4<<10 {
		t.Errorf("%d capWriters with one line each allocated %d bytes, want under %d", runs, n, runs*4<<10)
	}
	// Past the head, the tail is still kept.
	var b bytes.Buffer
	c := newCapWriter(&b, 2, 3)
	_, _ = c.Write([]byte("abcdefg"))
	_ = c.Flush()
	if b.String() != "ab\n[... 2 bytes cut ...]\nefg" {
		t.Errorf("got %q", b.String())
	}
}

func BenchmarkCapWriter(b *testing.B) {
	c := newCapWriter(&bytes.Buffer{}, 1<<10, 1<<20)
	line := []byte(fmt.Sprintf("%80s\n", "x"))
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = c.Write(line)
	}
}
