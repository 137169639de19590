package gitsync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	if exists(filepath.Join(f.path, ".git", syncingMarker)) || strings.Contains(log, "interrupted") {
		t.Error("the refusal left the working copy to repair")
	}
}
