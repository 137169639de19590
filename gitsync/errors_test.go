package gitsync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// A commit or a branch the remote does not have fails the sync, with an
// error that says which.
func TestNotOnTheRemote(t *testing.T) {
	t.Parallel()
	const missing = "1234abc000000000000000000000000000000000"
	tests := []struct {
		name   string
		change func(tg *Target)
		want   string // %UP: the upstream's path
	}{
		{"commit, depth 1", func(tg *Target) { tg.Depth, tg.Commit = 1, missing },
			"commit 1234abc not found on refs/heads/main after fetch"},
		{"commit, full history", func(tg *Target) { tg.Depth, tg.Commit = 0, missing },
			"commit 1234abc not found on refs/heads/main after fetch"},
		{"branch", func(tg *Target) { tg.Ref = "refs/heads/nope" },
			`fetch refs/heads/nope from %UP: couldn't find remote ref "refs/heads/nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.up.Commit(t, "main", map[string]string{"a": "a"}, "one")
			tg := f.target()
			tc.change(&tg)
			_, log, err := f.trySync(tg)
			if want := strings.ReplaceAll(tc.want, "%UP", f.up.Path()); err == nil || err.Error() != want {
				t.Errorf("err = %v, want %q\n%s", err, want, log)
			}
		})
	}
}

func TestUnreachableRemoteFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	closed := "http://" + testkit.FreeAddr(t) + "/repo.git"
	tests := []struct {
		name, remote, want string
		timeout, within    time.Duration
	}{
		{"closed port", closed, "connection refused", 30 * time.Second, 5 * time.Second},
		{"server never answers", hangingRemote(t), "context deadline exceeded", time.Second, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Remote, tg.Timeout = tc.remote, tc.timeout
			start := time.Now()
			_, _, err := f.trySync(tg)
			t.Logf("error: %v", err)
			if took := time.Since(start); took > tc.within {
				t.Errorf("took %s", took)
			}
			prefix := "fetch refs/heads/main from " + tc.remote + ": "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q ... %q", err, prefix, tc.want)
			}
		})
	}
}

func TestWorkingCopyPathErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr string
	}{
		{"parent missing", func(t *testing.T, path string) {
			if err := os.Remove(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
		}, "parent directory " + "%PARENT%" + " does not exist"},
		{"non-empty, not git", func(t *testing.T, path string) {
			testkit.WriteFile(t, filepath.Join(path, "precious.txt"), "keep me")
		}, "exists, is not empty and is not a git working copy; refusing to touch it (empty it, or clone " +
			"the repository into it with git; add files such as .env after the first deploy)"},
		{"a file", func(t *testing.T, path string) { testkit.WriteFile(t, path, "a file") }, "exists and is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.up.Commit(t, "main", map[string]string{"a": "a"}, "one")
			tc.setup(t, f.path)
			before := map[string]string{}
			if fi, err := os.Stat(f.path); err == nil && fi.IsDir() {
				before = files(t, f.path)
			}
			_, _, err := f.trySync(f.target())
			want := "open working copy " + f.path + ": " +
				strings.ReplaceAll(tc.wantErr, "%PARENT%", filepath.Dir(f.path))
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			if fi, err := os.Stat(f.path); err == nil && fi.IsDir() {
				if after := files(t, f.path); len(after) != len(before) || testkit.Exists(filepath.Join(f.path, ".git")) {
					t.Errorf("directory changed: %v", after)
				}
			}
		})
	}
}

func TestInvalidTarget(t *testing.T) {
	t.Parallel()
	valid := Target{Remote: "/srv/git/x.git", Path: "/srv/www/x", Ref: "refs/heads/main"}
	tests := []struct {
		name    string
		change  func(*Target)
		wantErr string
	}{
		{"empty remote", func(tg *Target) { tg.Remote = "" }, "remote: must not be empty"},
		{"option-like remote", func(tg *Target) { tg.Remote = "--upload-pack=touch /tmp/x" }, "must not start with '-'"},
		{"relative path", func(tg *Target) { tg.Path = "www/x" }, "path: must be an absolute path"},
		{"root path", func(tg *Target) { tg.Path = "/" }, "path: must be an absolute path"},
		{"option-like short ref", func(tg *Target) { tg.Ref = "-rf" }, `ref: must be a valid refs/heads/B, refs/tags/T or short name (got "-rf")`},
		{"bad short ref", func(tg *Target) { tg.Ref = "a..b" }, "ref: must be a valid"},
		{"other refs", func(tg *Target) { tg.Ref = "refs/pull/1/head" }, "ref: must be a valid"},
		{"bad ref", func(tg *Target) { tg.Ref = "refs/heads/a..b" }, "ref: must be a valid"},
		{"no ref, no commit", func(tg *Target) { tg.Ref = "" }, "ref: must not be empty without a commit"},
		{"short fallback", func(tg *Target) { tg.Fallback = "main" }, `fallback: must be a valid refs/heads/B (got "main")`},
		{"tag fallback", func(tg *Target) { tg.Fallback = "refs/tags/v1" }, "fallback: must be a valid refs/heads/B"},
		{"short delivered", func(tg *Target) { tg.Delivered = "1234abc" }, "delivered: must be a full lowercase SHA-1"},
		{"short commit", func(tg *Target) { tg.Commit = "1234abc" }, "commit: must be a full lowercase SHA-1"},
		{"negative depth", func(tg *Target) { tg.Depth = -1 }, "depth: must not be negative (got -1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := valid
			tc.change(&tg)
			_, err := New(testLogger(t)).Sync(context.Background(), tg, nil)
			if err == nil || !strings.HasPrefix(err.Error(), "invalid sync target: ") ||
				!strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// The forms of Ref a deployment may bring pass validation.
func TestValidTargetRefs(t *testing.T) {
	t.Parallel()
	const sha = "1234abc000000000000000000000000000000000"
	tests := []struct{ name, ref, commit, fallback string }{
		{"branch", "refs/heads/main", "", ""},
		{"tag", "refs/tags/v1.0", "", ""},
		{"short name", "main", sha, "refs/heads/main"},
		{"short name with a slash", "feature/x", "", ""},
		{"branch starting with a dash", "refs/heads/-rf", "", ""},
		{"commit alone", "", sha, ""},
		{"commit with a fallback", "", sha, "refs/heads/main"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := Target{Remote: "/srv/git/x.git", Path: "/srv/www/x", Ref: tc.ref, Commit: tc.commit, Fallback: tc.fallback}
			if err := tg.validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

func TestOriginFollowsTheConfiguredRemote(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "first upstream"})
	other := newFixture(t).up
	sha := other.Commit(t, "main", map[string]string{"a": "second upstream"}, "one")
	tg := f.target()
	tg.Remote = other.Path()
	_, log := f.sync(t, tg)
	if !strings.Contains(log, "set origin to "+other.Path()+" (was "+f.up.Path()+")") {
		t.Errorf("log:\n%s", log)
	}
	assertGit(t, f.path, other.Path(), "remote", "get-url", "origin")
	assertClean(t, f.path, sha)
}

// git-upload-pack, which go-git runs for a local-path remote, refuses a
// repository owned by another user; the error says how to allow it.
func TestLocalRemoteOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the upstream to another user")
	}
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1") // no safe.directory from the host
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	err := filepath.Walk(f.up.Path(), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 65534, 65534)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, log, err := f.trySync(f.target())
	dir := f.up.Path()
	want := "fetch refs/heads/main from " + dir + ": git-upload-pack refused it: detected dubious ownership " +
		"in repository at '" + dir + "'\nhint: the repository at " + dir + " is owned by another user; " +
		"run: git config --system --add safe.directory " + dir
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s\nlog:\n%s", err, want, log)
	}
	if testkit.Exists(filepath.Join(f.path, ".git", syncingMarker)) || strings.Contains(log, "interrupted") {
		t.Error("the refusal left the working copy to repair")
	}
}
