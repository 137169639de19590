package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// pushRig is a bare repository made by wh-git-trigger --install-hook for
// two entries, site (branch main, into wc-site) and staging (branch
// staging, into wc-staging, whose command fails), and a clone to push from.
type pushRig struct {
	dir, file, bare, clone, home string
}

// siteCommands print what they deploy, keep their environment in
// env-site, and, when the file named by $HOLD exists, wait until it is gone.
var siteCommands = []string{
	`env > "$OUT"; echo "deploying $WH_BRANCH at $WH_SHA"`,
	`while [ -e "$HOLD" ]; do sleep 0.05; done; echo "site says $(cat f)"`,
}

func newPushRig(t *testing.T, top string) *pushRig {
	t.Helper()
	return newPushRigRunning(t, top, siteCommands)
}

// newPushRigRunning is newPushRig with other commands for site.
func newPushRigRunning(t *testing.T, top string, commands []string) *pushRig {
	t.Helper()
	dir := t.TempDir()
	r := &pushRig{dir: dir, bare: filepath.Join(dir, "srv", "site.git"), clone: filepath.Join(dir, "clone"), home: t.TempDir()}
	env := map[string]string{"OUT": filepath.Join(dir, "env-site"), "HOLD": filepath.Join(dir, "hold")}
	f := testkit.File{Top: top, Repos: []testkit.Repo{
		{Name: "site", Provider: settings.Git, Remote: r.bare, Path: "wc-site",
			Branches: []testkit.Target{{Commands: commands, Env: env}}},
		{Name: "staging", Provider: settings.Git, Remote: r.bare, Path: "wc-staging",
			Branches: []testkit.Target{{Name: "staging", Commands: []string{`echo "staging says $(cat f)"; exit 3`}}}},
	}}
	r.file = f.Write(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"site", "staging"} {
		if code, out, errb := exitCode(t, bins.trigger, r.file, name, "--install-hook"); code != 0 {
			t.Fatalf("--install-hook %s: exit %d\n%s%s", name, code, out, errb)
		}
	}
	testkit.Git(t, dir, "init", "--quiet", "--initial-branch=main", r.clone)
	testkit.Git(t, r.clone, "config", "user.email", "alice@example.com")
	testkit.Git(t, r.clone, "config", "user.name", "Alice")
	testkit.Git(t, r.clone, "remote", "add", "deploy", r.bare)
	return r
}

// commit commits f holding content on branch of the clone and returns it.
func (r *pushRig) commit(t *testing.T, branch, content string) string {
	t.Helper()
	testkit.Git(t, r.clone, "checkout", "--quiet", "-B", branch)
	testkit.WriteFile(t, filepath.Join(r.clone, "f"), content+"\n")
	testkit.Git(t, r.clone, "add", "f")
	testkit.Git(t, r.clone, "commit", "--quiet", "-m", content)
	return testkit.Head(t, r.clone)
}

// git is a git command in the clone, as alice, with no configuration but
// the clone's.
func (r *pushRig) git(args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = r.clone
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.home, "USER=alice",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	return cmd
}

// push runs git push deploy args... and returns what the pusher sees.
// GIT_TRACE in its environment asks every git program that inherits it to
// trace itself into the file trace.
func (r *pushRig) push(t *testing.T, args ...string) string {
	t.Helper()
	cmd := r.git(append([]string{"push", "deploy"}, args...)...)
	cmd.Env = append(cmd.Env, "GIT_TRACE="+filepath.Join(r.dir, "trace"))
	out, err := cmd.CombinedOutput()
	t.Logf("$ git push deploy %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("git push: %v", err)
	}
	return string(out)
}

// contains fails the test for each of wants that out lacks.
func contains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// One push of two configured branches, an unconfigured one, a tag and a
// deletion deploys exactly the two branches, with and without the daemon:
// the pusher sees the commands' output as remote: lines, then one result
// line per job, and for the failure what it means and how to retry.
func TestPushDeploys(t *testing.T) {
	for _, withDaemon := range []bool{true, false} {
		name := map[bool]string{true: "daemon running", false: "no daemon"}[withDaemon]
		t.Run(name, func(t *testing.T) {
			r := newPushRig(t, "public_url: https://deploy.example.com")
			r.commit(t, "old", "old")
			r.push(t, "old")
			if withDaemon {
				startDaemon(t, r.file)
			}
			main := r.commit(t, "main", "hello")
			staging := r.commit(t, "staging", "staged")
			r.commit(t, "feature", "feature")
			testkit.Git(t, r.clone, "tag", "v1", main)
			out := r.push(t, "main", "staging", "feature", "v1", ":old")
			contains(t, "the pusher's output", out,
				"remote: wh-gitd: ignored refs/heads/feature: no entry deploys this branch",
				"remote: wh-gitd: ignored refs/tags/v1: a tag: only branches deploy",
				"remote: wh-gitd: ignored refs/heads/old: deleted: nothing to deploy",
				"deploying main at "+main, "remote: ", "site says hello",
				"remote: wh-gitd: site main: succeeded: deployed "+main[:12]+" in ",
				"staging says staged",
				"remote: wh-gitd: staging staging: DEPLOY FAILED (failed after ",
				"): "+staging[:12]+" is not deployed: command",
				"exit status 3 (job ",
				", https://deploy.example.com/jobs/",
				"remote: wh-gitd: the push itself went through: staging now points at "+staging[:12],
				"remote: wh-gitd: to retry, push a new commit, or run on the server: wh-git-trigger "+r.file+
					" staging --branch staging --sha "+staging)
			if got := testkit.Head(t, filepath.Join(r.dir, "wc-site")); got != main {
				t.Errorf("wc-site at %s, want %s", got, main)
			}
			if env := testkit.ReadFile(t, filepath.Join(r.dir, "env-site")); regexp.MustCompile(`(?m)^GIT_`).MatchString(env) {
				t.Errorf("a GIT_* variable reached the commands:\n%s", env)
			}
			// The sync reads the repository with git-upload-pack: had the
			// hook's GIT_* variables reached it, it would trace itself too.
			if trace := testkit.ReadFile(t, filepath.Join(r.dir, "trace")); !strings.Contains(trace, "receive-pack") ||
				strings.Contains(trace, "upload-pack") {
				t.Errorf("want the push traced and the sync not:\n%s", trace)
			}
			_, list, _ := exitCode(t, bins.trigger, r.file, "--list")
			if n := strings.Count(list, " push "); n != 2 || !strings.Contains(list, "site     main") ||
				!strings.Contains(list, "staging  staging") {
				t.Errorf("want exactly the two configured branches' jobs, got:\n%s", list)
			}
			id := regexp.MustCompile(`site main: succeeded: .*\(job (\w+)`).FindStringSubmatch(out)
			if id == nil {
				t.Fatal("no job id in the output")
			}
			_, show, _ := exitCode(t, bins.trigger, r.file, "--show", id[1])
			contains(t, "the job's record", show, `"provider": "git"`, `"event": "push"`, `"pusher": "alice"`)
		})
	}
}

// lockedBuffer is a bytes.Buffer that a process may write while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPush starts git push deploy args... in its own process group and
// returns it and what it prints.
func (r *pushRig) startPush(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd, out := r.git(append([]string{"push", "deploy"}, args...)...), &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	return cmd, out
}

// A push while another job runs on the working copy says that it waits,
// then deploys.
func TestPushWaitsForTheWorkingCopy(t *testing.T) {
	r := newPushRig(t, "")
	startDaemon(t, r.file)
	hold := filepath.Join(r.dir, "hold")
	testkit.Touch(t, hold)
	r.commit(t, "main", "one")
	first, out1 := r.startPush(t, "main")
	testkit.Eventually(t, "the first deploy runs", 90*time.Second, func() bool {
		return strings.Contains(out1.String(), "deploying main")
	})
	two := r.commit(t, "main", "two")
	second, out2 := r.startPush(t, "main")
	testkit.Eventually(t, "the second push says it waits", 90*time.Second, func() bool {
		return strings.Contains(out2.String(), "which is running on this working copy")
	})
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{first, second} {
		if err := c.Wait(); err != nil {
			t.Errorf("git push: %v", err)
		}
	}
	t.Logf("first push:\n%s\nsecond push:\n%s", out1, out2)
	contains(t, "the second push", out2.String(), "remote: wh-gitd: site main: job ", " waits for job ",
		"(branch main), which is running on this working copy", "site says two",
		"site main: succeeded: deployed "+two[:12])
}

// git push -o detach queues the deploy and returns; without the daemon
// there is nothing to queue it in, and it says it deploys now.
func TestPushDetach(t *testing.T) {
	r := newPushRig(t, "")
	one := r.commit(t, "main", "one")
	out := r.push(t, "-o", "detach", "main")
	contains(t, "a detached push without the daemon", out, "-o detach needs the daemon, and none is running: deploying now",
		"site main: succeeded: deployed "+one[:12])
	startDaemon(t, r.file)
	testkit.Touch(t, filepath.Join(r.dir, "hold"))
	two := r.commit(t, "main", "two")
	out = r.push(t, "-o", "detach", "main")
	contains(t, "a detached push", out, "site main: queued as job ", "site main: not waiting (-o detach); follow it with: wh-git-trigger ")
	if strings.Contains(out, "succeeded") {
		t.Errorf("a detached push waited for the job:\n%s", out)
	}
	id := regexp.MustCompile(`queued as job (\w+)`).FindStringSubmatch(out)[1]
	os.Remove(filepath.Join(r.dir, "hold"))
	testkit.Eventually(t, "the detached job ends", 90*time.Second, func() bool {
		_, show, _ := exitCode(t, bins.trigger, r.file, "--show", id)
		return strings.Contains(show, `"state": "succeeded"`) && strings.Contains(show, two)
	})
}

// Ctrl-C on the pusher's side (SIGINT to git push's process group) stops
// the streaming, not the job, which runs in the hook's process when no
// daemon does: it ends and is recorded. The signal comes as the job's
// second command starts, which is when it once killed that command.
func TestPusherGoneMidStream(t *testing.T) {
	r := newPushRig(t, "")
	hold := filepath.Join(r.dir, "hold")
	testkit.Touch(t, hold)
	sha := r.commit(t, "main", "one")
	cmd, out := r.startPush(t, "main")
	testkit.Eventually(t, "the deploy runs", 90*time.Second, func() bool {
		return strings.Contains(out.String(), "deploying main")
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	id := siteJobID(t, out.String())
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	var show string
	defer func() {
		if t.Failed() {
			t.Logf("the pusher saw:\n%s\nthe job's record:\n%s", out, show)
		}
	}()
	testkit.Eventually(t, "the job ends and is recorded", 90*time.Second, func() bool {
		_, show, _ = exitCode(t, bins.trigger, r.file, "--show", id)
		return strings.Contains(show, `"state": "succeeded"`) && strings.Contains(show, "site says one")
	})
	if got := testkit.Head(t, filepath.Join(r.dir, "wc-site")); got != sha {
		t.Errorf("wc-site at %s, want %s", got, sha)
	}
}

// A pusher's Ctrl-C, however often it comes, kills no command of the job
// the hook runs: signals sent to git push's process group all the while
// its job starts 60 commands (each of them in that group from its fork to
// its own setpgid, unless the hook has left the group).
func TestPusherSignalsReachNoCommand(t *testing.T) {
	cmds := make([]string, 60)
	for i := range cmds {
		cmds[i] = "true"
	}
	cmds[0] = "echo started"
	r := newPushRigRunning(t, "", cmds)
	r.commit(t, "main", "one")
	cmd, out := r.startPush(t, "main")
	testkit.Eventually(t, "the job starts its commands", 90*time.Second, func() bool {
		return strings.Contains(out.String(), "started")
	})
	id := siteJobID(t, out.String())
	reaped := make(chan struct{}) // git push's zombie would keep the group
	go func() { _ = cmd.Wait(); close(reaped) }()
	sent := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); sent++ {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			break // nobody left in the group
		}
	}
	<-reaped
	var show string
	testkit.Eventually(t, "the job ends", 90*time.Second, func() bool {
		_, show, _ = exitCode(t, bins.trigger, r.file, "--show", id)
		return strings.Contains(show, `"finished"`)
	})
	if !strings.Contains(show, `"state": "succeeded"`) {
		t.Errorf("after %d SIGINTs to the pusher's group, the job did not succeed:\n%s", sent, show)
	}
}

// siteJobID is the id of the job site's branch main runs in the hook, from
// what the pusher saw.
func siteJobID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`job (\w+): site branch main`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no job id in:\n%s", out)
	}
	return m[1]
}

// With no daemon, a push by someone other than the state dir's owner
// deploys nothing, and says so, and how to deploy it once the daemon runs.
func TestPushWithoutDaemonByAnotherUser(t *testing.T) {
	u := scratchUser(t)
	uid, gid := ids(t, u)
	r := newPushRig(t, "")
	if err := os.Chown(filepath.Join(r.dir, "state"), uid, gid); err != nil {
		t.Fatal(err)
	}
	sha := r.commit(t, "main", "one")
	out := r.push(t, "main")
	contains(t, "the pusher's output", out,
		"remote: wh-gitd: site main: NOT DEPLOYED: no daemon is running; once it runs, push a new commit or run on the server: "+
			"wh-git-trigger "+r.file+" site --branch main --sha "+sha,
		"remote: wh-git-trigger: no daemon is running, and state_dir "+filepath.Join(r.dir, "state")+" belongs to "+u.Username,
		"remote: hint: start the daemon (systemctl start wh-gitd); the push itself went through")
	if testkit.Exists(filepath.Join(r.dir, "wc-site")) {
		t.Error("the working copy was made")
	}
}
