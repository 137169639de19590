package gitsync

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// history is an upstream with main A-B-C, dev A-B-E (E's parent is B),
// the lightweight tag light and the annotated tag v1 at A, the tag both at B
// and the branch both at C.
type history struct {
	f                   *fixture
	a, b, c, e, v1, tag string
}

func newHistory(t *testing.T) *history {
	t.Helper()
	f := newFixture(t)
	h := &history{f: f}
	h.a = f.up.Commit(t, "main", map[string]string{"v": "A"}, "A")
	h.b = f.up.Commit(t, "main", map[string]string{"v": "B"}, "B")
	f.up.Git(t, "branch", "dev", "main")
	h.c = f.up.Commit(t, "main", map[string]string{"v": "C"}, "C")
	h.e = f.up.Commit(t, "dev", map[string]string{"v": "E"}, "E")
	f.up.Tag(t, "light", h.a)
	h.v1 = f.up.AnnotatedTag(t, "v1", h.a, "release 1")
	f.up.Tag(t, "both", h.b)
	f.up.Git(t, "branch", "both", h.c)
	return h
}

// A deployment checks out exactly its commit, wherever its ref says to
// look: a branch, a tag (lightweight or annotated), a short name resolved
// as git does (tags first), nothing but the hash, or a fallback branch
// when the ref is gone.
func TestDeploymentRefForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(t *testing.T, h *history, tg *Target) (commit, tip string)
		head     string // the ref HEAD points at, "HEAD" when detached
		lines    []string
		notLines []string
	}{
		{"branch", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Commit = h.b
			return h.b, h.c
		}, "refs/heads/main", []string{"refs/heads/main is at %C; checking out %B"}, nil},
		{"lightweight tag", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit = "refs/tags/light", h.a
			return h.a, h.a
		}, "HEAD", []string{"fetch refs/tags/light from origin"}, []string{"by hash"}},
		{"annotated tag", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit = "refs/tags/v1", h.a
			return h.a, h.a
		}, "HEAD", nil, []string{"by hash"}},
		{"short name of a tag", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit = "v1", h.a
			return h.a, h.a
		}, "HEAD", []string{"fetch v1 from origin"}, []string{"by hash"}},
		{"short name of a branch", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit = "dev", h.b
			return h.b, h.e
		}, "HEAD", []string{"dev is at %E; checking out %B", "deepen dev to 100 commits"}, nil},
		{"short name: the tag before the branch", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit = "both", h.b
			return h.b, h.b
		}, "HEAD", nil, []string{"by hash", "checking out"}},
		{"hash, fetched by hash", func(t *testing.T, h *history, tg *Target) (string, string) {
			h.f.up.Git(t, "config", "uploadpack.allowAnySHA1InWant", "true")
			tg.Ref, tg.Commit, tg.Fallback = "", h.b, "refs/heads/main"
			return h.b, ""
		}, "HEAD", []string{"commit %B is not here; fetching it by hash (depth 1)"}, []string{"deepen", "fetch refs/heads/main"}},
		{"hash as the ref", func(t *testing.T, h *history, tg *Target) (string, string) {
			h.f.up.Git(t, "config", "uploadpack.allowAnySHA1InWant", "true")
			tg.Ref, tg.Commit = h.b, h.b
			return h.b, ""
		}, "HEAD", []string{"fetching it by hash"}, []string{"not on origin"}},
		{"hash, found on the fallback", func(t *testing.T, h *history, tg *Target) (string, string) {
			tg.Ref, tg.Commit, tg.Fallback = "", h.a, "refs/heads/main"
			return h.a, ""
		}, "HEAD", []string{"the server does not allow fetching a commit by hash",
			"looking for %A on refs/heads/main", "deepen refs/heads/main to 100 commits to find %A"}, nil},
		{"deleted branch, found on the fallback", func(t *testing.T, h *history, tg *Target) (string, string) {
			h.f.up.DeleteBranch(t, "dev")
			tg.Ref, tg.Commit, tg.Fallback = "refs/heads/dev", h.b, "refs/heads/main"
			return h.b, ""
		}, "refs/heads/dev", []string{"refs/heads/dev is not on origin (deleted since?)",
			"deepen refs/heads/main to 100 commits"}, nil},
		{"deleted short name, found on the fallback", func(t *testing.T, h *history, tg *Target) (string, string) {
			h.f.up.DeleteBranch(t, "dev")
			tg.Ref, tg.Commit, tg.Fallback, tg.Depth = "dev", h.a, "refs/heads/main", 0
			return h.a, ""
		}, "HEAD", []string{"dev is not on origin", "fetch refs/heads/main from origin (full history)"}, []string{"deepen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t)
			tg := h.f.target()
			commit, tip := tc.change(t, h, &tg)
			res, log := h.f.sync(t, tg)
			if res.Commit != commit || res.Tip != tip {
				t.Errorf("result = %+v, want commit %s, tip %q", res, commit[:7], tip)
			}
			assertClean(t, h.f.path, commit)
			assertGit(t, h.f.path, tc.head, "rev-parse", "--symbolic-full-name", "HEAD")
			name := map[string]string{h.a: "A", h.b: "B", h.c: "C", h.e: "E"}[commit]
			if got := testkit.ReadFile(t, filepath.Join(h.f.path, "v")); got != name {
				t.Errorf("v = %q, want %q", got, name)
			}
			h.assertLog(t, log, tc.lines, tc.notLines)
		})
	}
}

// assertLog checks that the log has every line (%A ... standing for the
// commits' short SHAs) and none of notLines.
func (h *history) assertLog(t *testing.T, log string, lines, notLines []string) {
	t.Helper()
	r := strings.NewReplacer("%A", h.a[:7], "%B", h.b[:7], "%C", h.c[:7], "%E", h.e[:7])
	for _, l := range lines {
		assertLogHas(t, log, r.Replace(l))
	}
	for _, l := range notLines {
		if strings.Contains(log, r.Replace(l)) {
			t.Errorf("log has %q:\n%s", r.Replace(l), log)
		}
	}
}

// A commit that is already here is deployed without fetching, even while
// the remote is away (a rollback).
func TestCommitAlreadyHere(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	tg := h.f.target()
	tg.Depth = 0
	h.f.sync(t, tg)
	tg.Ref, tg.Commit, tg.Remote = "", h.a, filepath.Join(t.TempDir(), "away.git")
	res, log := h.f.sync(t, tg)
	if res.Commit != h.a || strings.Contains(log, "fetch") {
		t.Errorf("result %+v, log:\n%s", res, log)
	}
	assertClean(t, h.f.path, h.a)
}

// When a commit cannot be found, the error says where it was looked for.
func TestDeploymentCommitNotFound(t *testing.T) {
	t.Parallel()
	const missing = "1234abc000000000000000000000000000000000"
	tests := []struct {
		name, ref, fallback string
		anySHA1             bool
		want                string
	}{
		{"branch", "refs/heads/main", "", false, "commit 1234abc not found on refs/heads/main after fetch"},
		{"branch and fallback", "refs/heads/main", "refs/heads/dev", false,
			"commit 1234abc not found on refs/heads/main or refs/heads/dev after fetch"},
		{"hash, refused", "", "", false, "commit 1234abc not found by hash and no fallback branch is set: " +
			"the server does not allow fetching a commit by hash"},
		{"hash, not served", "", "", true, "commit 1234abc not found by hash and no fallback branch is set: " +
			"fetch 1234abc by hash from %URL: "},
		{"hash and fallback", "", "refs/heads/main", false, "commit 1234abc not found on refs/heads/main after fetch " +
			"(by hash: the server does not allow fetching a commit by hash)"},
		{"deleted branch", "refs/heads/gone", "", false, "commit 1234abc not found: refs/heads/gone is not on the " +
			"remote and no fallback branch is set (by hash: the server does not allow fetching a commit by hash)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory(t)
			if tc.anySHA1 {
				h.f.up.Git(t, "config", "uploadpack.allowAnySHA1InWant", "true")
			}
			tg := h.f.target()
			tg.Ref, tg.Fallback, tg.Commit = tc.ref, tc.fallback, missing
			_, log, err := h.f.trySync(tg)
			want := strings.ReplaceAll(tc.want, "%URL", h.f.up.Path())
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("err = %v, want %q\n%s", err, want, log)
			}
		})
	}
}

// Head answers with the commit a ref points at: a tag peeled, a short name
// resolved as git does.
func TestHead(t *testing.T) {
	t.Parallel()
	h := newHistory(t)
	tests := []struct{ ref, want string }{
		{"refs/heads/main", h.c},
		{"refs/tags/v1", h.a},
		{"refs/tags/light", h.a},
		{"v1", h.a},
		{"dev", h.e},
		{"both", h.b},
		{"HEAD", h.c},
		{"refs/heads/nope", ""},
	}
	for _, tc := range tests {
		tg := h.f.target()
		tg.Ref = tc.ref
		got, err := h.f.s.Head(context.Background(), tg)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("Head(%s) = %s, %v; want %s", tc.ref, got, err, tc.want)
		}
	}
}

// A push deploys the tip of its branch as fetched now, and says how the
// commit the forge delivered relates to it.
func TestDeliveredRelation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		depth     int
		deliver   string // "A", "B", "C": the linear history A-B-C; "D": the force-pushed A-D
		forcePush bool   // main moves to D, a child of A, past B and C
		deployedA bool   // A was deployed (and so fetched) before
		want      string
		wantLine  string
	}{
		{"tip", 0, "C", false, false, DeliveredTip, ""},
		{"ancestor, full history", 0, "A", false, false, DeliveredAncestor,
			"delivered commit %A is in the history of main's tip %C; deploying the tip"},
		{"parent of a depth 1 tip", 1, "B", false, false, DeliveredAncestor, "is in the history of main's tip %C"},
		{"beyond a depth 1 tip", 1, "A", false, false, DeliveredUnknown,
			"delivered commit %A is not in the fetched part of the history of main's tip %C"},
		{"beyond a depth 1 tip, deployed before", 1, "A", false, true, DeliveredUnknown, "not in the fetched part"},
		{"ancestor, depth 2", 2, "A", false, true, DeliveredAncestor, "is in the history"},
		{"force-pushed away, full history", 0, "B", true, false, DeliveredNotInHistory,
			"delivered commit %B is not in the history of main's tip %D (the branch was force-pushed); deploying the tip"},
		{"force-pushed away, deployed before", 0, "C", true, true, DeliveredNotInHistory, "force-pushed"},
		{"force-pushed away, depth 1", 1, "B", true, false, DeliveredUnknown, "not in the fetched part"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Depth = tc.depth
			shas := map[string]string{"A": f.up.Commit(t, "main", map[string]string{"v": "A"}, "A")}
			if tc.deployedA {
				f.sync(t, tg)
			}
			shas["B"] = f.up.Commit(t, "main", map[string]string{"v": "B"}, "B")
			shas["C"] = f.up.Commit(t, "main", map[string]string{"v": "C"}, "C")
			tip := shas["C"]
			if tc.forcePush {
				f.up.ForcePush(t, "main", shas["A"])
				shas["D"] = f.up.Commit(t, "main", map[string]string{"v": "D"}, "D")
				tip = shas["D"]
			}
			tg.Delivered = shas[tc.deliver]
			res, log := f.sync(t, tg)
			if res.Commit != tip || res.Tip != tip || res.Delivered != tc.want {
				t.Errorf("result = %+v, want commit and tip %s, delivered %s", res, tip[:7], tc.want)
			}
			line := tc.wantLine
			for k, v := range shas {
				line = strings.ReplaceAll(line, "%"+k, v[:7])
			}
			assertLogHas(t, log, line)
			if line == "" && strings.Contains(log, "delivered commit") {
				t.Errorf("log speaks of the delivered tip:\n%s", log)
			}
			assertClean(t, f.path, tip)
		})
	}
}

// The walk through the tip's history is bounded: past the bound, whether
// the delivered commit is in it is not known.
func TestDeliveredWalkIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.historyWalk = 3
	first := f.up.Commit(t, "main", map[string]string{"n": "0"}, "0")
	other := f.up.Orphan(t, map[string]string{"x": "x"}, "unrelated")
	for i := range 5 {
		f.up.Commit(t, "main", map[string]string{"n": strings.Repeat("x", i+1)}, "next")
	}
	tg := f.target()
	tg.Depth = 0
	tg.Delivered = first
	if res, _ := f.sync(t, tg); res.Delivered != DeliveredUnknown {
		t.Errorf("delivered = %q past the bound, want %q", res.Delivered, DeliveredUnknown)
	}
	f.s.historyWalk = 10
	tg.Delivered = other
	if res, _ := f.sync(t, tg); res.Delivered != DeliveredNotInHistory {
		t.Errorf("delivered = %q within the bound, want %q", res.Delivered, DeliveredNotInHistory)
	}
}
