package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

const (
	zero = "0000000000000000000000000000000000000000"
	shaA = "1111111111111111111111111111111111111111"
	shaB = "2222222222222222222222222222222222222222"
)

func TestParseRefUpdate(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	cases := []struct {
		name, line string
		ok         bool
	}{
		{"update", shaA + " " + shaB + " refs/heads/main", true},
		{"create", zero + " " + shaB + " refs/heads/main", true},
		{"delete", shaA + " " + zero + " refs/heads/main", true},
		{"sha-256", strings.Repeat("0", 64) + " " + sha256 + " refs/heads/main", true},
		{"tag", zero + " " + shaB + " refs/tags/v1", true},
		{"two fields", shaA + " " + shaB, false},
		{"four fields", shaA + " " + shaB + " refs/heads/main x", false},
		{"two spaces", shaA + "  " + shaB + " refs/heads/main", false},
		{"short id", shaA[:39] + " " + shaB + " refs/heads/main", false},
		{"upper case", strings.ToUpper("abcdef"+shaA[6:]) + " " + shaB + " refs/heads/main", false},
		{"mixed lengths", shaA + " " + sha256 + " refs/heads/main", false},
		{"both zero", zero + " " + zero + " refs/heads/main", false},
		{"not under refs/", shaA + " " + shaB + " HEAD", false},
		{"bare refs/", shaA + " " + shaB + " refs/", false},
		{"control character", shaA + " " + shaB + " refs/heads/a\tb", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parseRefUpdate(tc.line)
			if (err == nil) != tc.ok {
				t.Fatalf("parse %q: %v, want ok %v", tc.line, err, tc.ok)
			}
			if tc.ok && u.old+" "+u.new+" "+u.ref != tc.line {
				t.Errorf("parse %q: %+v", tc.line, u)
			}
		})
	}
}

// A parsed line is exactly what was read: two ids of one length and a
// ref, never both ids zero.
func FuzzParseRefUpdate(f *testing.F) {
	f.Add(shaA + " " + shaB + " refs/heads/main")
	f.Add(zero + " " + shaB + " refs/tags/v1")
	f.Add(strings.Repeat("0", 64) + " " + strings.Repeat("a", 64) + " refs/heads/x")
	f.Add("a b c")
	f.Fuzz(func(t *testing.T, line string) {
		u, err := parseRefUpdate(line)
		if err != nil {
			return
		}
		if u.old+" "+u.new+" "+u.ref != line || len(u.old) != len(u.new) || !objectID(u.old) ||
			!strings.HasPrefix(u.ref, "refs/") || (u.created() && u.deleted()) || strings.ContainsAny(u.ref, " \n\x00") {
			t.Fatalf("parse %q: %+v", line, u)
		}
	})
}

// Every line of a push counts: each configured branch created or updated
// deploys, in every entry that configures it; the rest is ignored with a
// reason, and lines git never sends are set aside.
func TestPlanPush(t *testing.T) {
	site := &settings.Repo{Name: "site", Provider: settings.Git,
		Branches: map[string]*settings.Target{"main": {}, "staging": {}}}
	docs := &settings.Repo{Name: "docs", Provider: settings.Git, Branches: map[string]*settings.Target{"main": {}}}
	input := strings.Join([]string{
		shaA + " " + shaB + " refs/heads/main",
		zero + " " + shaA + " refs/heads/staging",
		zero + " " + shaA + " refs/heads/feature",
		zero + " " + shaA + " refs/tags/v1",
		shaA + " " + zero + " refs/heads/old",
		shaA + " " + zero + " refs/heads/staging",
		shaA + " " + shaB + " refs/notes/commits",
		strings.Repeat("0", 64) + " " + strings.Repeat("c", 64) + " refs/heads/main",
		"garbage",
		"",
	}, "\n")
	updates, bad, err := readRefUpdates(strings.NewReader(input))
	if err != nil || len(bad) != 1 || !strings.Contains(bad[0], "garbage") {
		t.Fatalf("read: %v, bad %q", err, bad)
	}
	jobs, ignored := planPush([]*settings.Repo{docs, site}, updates)
	var got []string
	for _, j := range jobs {
		got = append(got, j.String()+" "+j.sha[:1])
	}
	if want := []string{"docs main 2", "site main 2", "site staging 1"}; !slices.Equal(got, want) {
		t.Errorf("jobs %q, want %q", got, want)
	}
	want := []string{
		"refs/heads/feature: no entry deploys this branch",
		"refs/tags/v1: a tag: only branches deploy",
		"refs/heads/old: deleted: nothing to deploy",
		"refs/heads/staging: deleted: nothing to deploy",
		"refs/notes/commits: not a branch",
		"refs/heads/main: a SHA-256 commit: the sync reads SHA-1 repositories only",
	}
	if !slices.Equal(ignored, want) {
		t.Errorf("ignored:\n%s\nwant:\n%s", strings.Join(ignored, "\n"), strings.Join(want, "\n"))
	}
}

// The hook finds its entries by the repository it runs in, whichever way
// the settings name it: through a symbolic link, with or without .git.
func TestPushEntries(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "site.git")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(repo, filepath.Join(dir, "link.git")); err != nil {
		t.Fatal(err)
	}
	set := &settings.Settings{Repos: map[string]*settings.Repo{
		"plain":   {Provider: settings.Git, Remote: repo},
		"nosuf":   {Provider: settings.Git, Remote: filepath.Join(dir, "site")},
		"linked":  {Provider: settings.Git, Remote: filepath.Join(dir, "link.git")},
		"other":   {Provider: settings.Git, Remote: filepath.Join(dir, "other.git")},
		"forge":   {Provider: settings.GitHub, Remote: repo},
		"trailer": {Provider: settings.Git, Remote: repo + "/"},
	}}
	for name, r := range set.Repos {
		r.Name = name
	}
	var got []string
	for _, r := range pushEntries(set, filepath.Join(dir, "link.git", ".")) {
		got = append(got, r.Name)
	}
	if want := []string{"linked", "nosuf", "plain", "trailer"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}

func TestReadHookEnv(t *testing.T) {
	he := readHookEnv([]string{"GIT_DIR=.", "GIT_PUSH_OPTION_COUNT=2", "GIT_PUSH_OPTION_0=ci.skip",
		"GIT_PUSH_OPTION_1=detach", "USER=deploy", pushKeyVar + "=SHA256:x"}, "/srv/git/site.git")
	if he.dir != "/srv/git/site.git" || !he.detach() || he.by != "deploy (key SHA256:x)" {
		t.Errorf("%+v", he)
	}
	he = readHookEnv([]string{"GIT_DIR=/srv/git/b.git", "LOGNAME=ann"}, "/")
	if he.dir != "/srv/git/b.git" || he.detach() || he.by != "ann" {
		t.Errorf("%+v", he)
	}
}
