package settings

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// goGitAccepts is what gitsync checks before a sync: go-git's ref name
// rules, without their refusal of a leading '-' (see gitsync.validRefName).
func goGitAccepts(branch string) bool {
	ref := "refs/heads/" + branch
	if rest, ok := strings.CutPrefix(ref, "refs/heads/-"); ok {
		ref = "refs/heads/x" + rest
	}
	return plumbing.ReferenceName(ref).Validate() == nil
}

// branchNameProblem never panics, and every branch name it accepts is one
// the sync accepts too: a configured branch can always be deployed.
func FuzzBranchName(f *testing.F) {
	for _, n := range []string{"main", "feature/x", "-rf", "x$(touch${IFS}C)", "a..b", "a.lock", "@{",
		"ünïcode", "a//b", ".a", "a/.b", "a b", "a\x7f", "/", "a/", "HEAD", "refs/heads/x", strings.Repeat("b", 255)} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if branchNameProblem(name) == "" && !goGitAccepts(name) {
			t.Fatalf("settings accept branch %q, the sync refuses it", name)
		}
	})
}

// Branch names git accepts but the sync cannot fetch are refused when the
// settings load, not at every push (found by FuzzBranchName).
func TestBranchNamesTheSyncRefuses(t *testing.T) {
	for _, name := range []string{"@", "a/@", "@/b"} {
		if msg := branchNameProblem(name); !strings.Contains(msg, "@, which the sync cannot fetch") {
			t.Errorf("branchNameProblem(%q) = %q", name, msg)
		}
		if goGitAccepts(name) {
			t.Errorf("go-git accepts %q: the rule can go", name)
		}
	}
}
