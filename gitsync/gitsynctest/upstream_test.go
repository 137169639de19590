package gitsynctest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lsTree lists the modes and paths of the tree at rev.
func lsTree(t *testing.T, u *Upstream, rev string) string {
	t.Helper()
	return u.Git(t, "ls-tree", "-r", "--format=%(objectmode) %(path)", rev)
}

func TestCommitModesAndDeletion(t *testing.T) {
	t.Parallel()
	u := NewUpstream(t)
	first := u.Commit(t, "main", map[string]string{"a": "a", "dir/b": "b", "empty": ""}, "first")
	if got := u.Head(t, "main"); got != first {
		t.Fatalf("Head = %s, want %s", got, first)
	}
	u.CommitFiles(t, "main", []File{
		{Path: "run.sh", Content: "#!/bin/sh", Mode: Executable},
		{Path: "link", Content: "a", Mode: Symlink},
		{Path: "sub", Content: first, Mode: Gitlink},
		{Path: "dir/b", Mode: Delete},
	}, "second")
	want := "100644 a\n100644 empty\n120000 link\n100755 run.sh\n160000 sub"
	if got := lsTree(t, u, "main"); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	u.Commit(t, "main", map[string]string{"a": Deleted}, "third")
	if got := lsTree(t, u, "main"); strings.Contains(got, " a\n") {
		t.Errorf("a not deleted:\n%s", got)
	}
	if parent := u.Git(t, "rev-parse", "main~2"); parent != first {
		t.Errorf("history: main~2 = %s, want %s", parent, first)
	}
}

func TestBranchesTagsAndOrphans(t *testing.T) {
	t.Parallel()
	u := NewUpstream(t)
	one := u.Commit(t, "main", map[string]string{"a": "1"}, "one")
	orphan := u.Orphan(t, map[string]string{"b": "2"}, "unrelated")
	if out := u.Git(t, "rev-list", "--parents", "-n1", orphan); out != orphan {
		t.Errorf("orphan has parents: %s", out)
	}
	u.ForcePush(t, "main", orphan)
	u.Tag(t, "v1", one)
	tagObj := u.AnnotatedTag(t, "v1-annotated", one, "release")
	if u.Head(t, "main") != orphan || u.Git(t, "rev-parse", "v1") != one || tagObj == one {
		t.Error("branch or tags not where expected")
	}
	u.DeleteBranch(t, "main")
	if err := exec.Command("git", "-C", u.Path(), "rev-parse", "--verify", "-q", "refs/heads/main").Run(); err == nil {
		t.Error("branch not deleted")
	}
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	u := NewUpstream(t)
	sha := u.Commit(t, "main", map[string]string{"a": "1"}, "one")
	for _, url := range []string{u.ServeHTTP(t), strings.Replace(u.ServeHTTPAuth(t, "me", "pw"), "://", "://me:pw@", 1)} {
		out, err := exec.Command("git", "ls-remote", url, "refs/heads/main").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), sha) {
			t.Errorf("ls-remote %s: %v %s", url, err, out)
		}
	}
	cmd := exec.Command("git", "ls-remote", u.ServeHTTPAuth(t, "me", "pw"))
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	cmd.Dir = filepath.Dir(u.Path())
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("no credentials accepted: %s", out)
	}
}
