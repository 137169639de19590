package settings_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// site is an entry named site whose path line and targets are given.
func site(pathLine, targets string) string {
	return "state_dir: ./state\nrepos:\n  site:\n    provider: github\n    repository: example/site\n" +
		"    remote: https://github.com/example/site.git\n" + pathLine + "    secret: " + secret + "\n" + targets
}

const (
	entryPath   = "    path: ./site\n"
	noEntryPath = ""
)

func TestTargetPaths(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       map[string]string // target (branches.B or environments.E) → working copy under the folder
	}{
		{"each branch its own path", site(noEntryPath, `    branches:
      main: {path: ./site, commands: [x]}
      staging: {path: site-staging, commands: [x]}
`), map[string]string{"branches.main": "site", "branches.staging": "site-staging"}},
		{"a branch and an environment of the same branch share", site(entryPath, `    branches:
      main: {commands: [x]}
    environments:
      production: {branch: main, commands: [x]}
`), map[string]string{"branches.main": "site", "environments.production": "site"}},
		{"one target of its own, the others the entry's", site(entryPath, `    branches:
      main: {commands: [x]}
      staging: {path: ./staging, commands: [x]}
    environments:
      production: {branch: main, commands: [x]}
      review: {path: ./review, commands: [x]}
`), map[string]string{"branches.main": "site", "branches.staging": "staging",
			"environments.production": "site", "environments.review": "review"}},
		{"shared_path lets branches take turns", site(entryPath+"    shared_path: true\n", `    branches:
      main: {commands: [x]}
      staging: {commands: [x]}
    environments:
      review: {commands: [x]}
`), map[string]string{"branches.main": "site", "branches.staging": "site", "environments.review": "site"}},
		{"two environments of one branch", site(entryPath, `    environments:
      production: {branch: main, commands: [x]}
      canary: {branch: main, commands: [x]}
`), map[string]string{"environments.production": "site", "environments.canary": "site"}},
		{"a target's path inside no other", site(noEntryPath, `    branches:
      main: {path: ./a/site, commands: [x]}
      staging: {path: ./a/site-staging, commands: [x]}
`), map[string]string{"branches.main": "a/site", "branches.staging": "a/site-staging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t, map[string]string{"settings.yaml": tt.yaml, "a/.keep": ""})
			s, err := settings.Load(filepath.Join(dir, "settings.yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := s.Repos["site"]
			for key, want := range tt.want {
				kind, name, _ := strings.Cut(key, ".")
				target := r.Branches[name]
				if kind == "environments" {
					target = r.Environments[name]
				}
				if got := r.WorkingCopy(target); got != filepath.Join(dir, want) {
					t.Errorf("WorkingCopy(%s) = %q, want %q", key, got, filepath.Join(dir, want))
				}
			}
		})
	}
}

func TestTargetPathErrors(t *testing.T) {
	two := "    branches:\n      main: {commands: [x]}\n      staging: {commands: [x]}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"two branches, one folder", site(entryPath, two), []string{
			`repos.site.branches.staging.path: same working copy as repos.site.branches.main, which deploys branch main ` +
				`while this deploys branch staging: give each its own path: (or set shared_path: true on the entry to let them take turns) (got "/`}},
		{"an environment of another branch", site(entryPath, "    branches:\n      main: {commands: [x]}\n"+
			"    environments:\n      staging: {branch: staging, commands: [x]}\n"), []string{
			"repos.site.environments.staging.path: same working copy as repos.site.branches.main, which deploys branch main while this deploys branch staging"}},
		{"an environment without branch", site(entryPath, "    branches:\n      main: {commands: [x]}\n"+
			"    environments:\n      production: {commands: [x]}\n"), []string{
			"repos.site.environments.production.path: same working copy as repos.site.branches.main, " +
				"which deploys branch main while this deploys any ref a deployment names (no branch: set)"}},
		{"two environments without branch", site(entryPath, "    environments:\n      a: {commands: [x]}\n      b: {commands: [x]}\n"),
			[]string{"repos.site.environments.b.path: same working copy as repos.site.environments.a"}},
		{"a branch's own path that is the entry's", site(entryPath, "    branches:\n      main: {commands: [x]}\n"+
			"      staging: {path: ./site, commands: [x]}\n"), []string{
			"repos.site.branches.staging.path: same working copy as repos.site.branches.main"}},
		{"each problem once per target", site(entryPath, two+"      dev: {commands: [x]}\n"), []string{
			"repos.site.branches.main.path: same working copy as repos.site.branches.dev",
			"repos.site.branches.staging.path: same working copy as repos.site.branches.dev"}},
		{"nested in the entry's", site(entryPath, "    branches:\n      main: {commands: [x]}\n"+
			"      staging: {path: ./site/staging, commands: [x]}\n"), []string{
			"repos.site.branches.staging.path: inside the working copy of repos.site (got"}},
		{"nested even when shared", site(entryPath+"    shared_path: true\n", "    branches:\n      main: {path: ./site/main, commands: [x]}\n"+
			"      staging: {commands: [x]}\n"), []string{
			"repos.site.branches.main.path: inside the working copy of repos.site (got"}},
		{"nested targets", site(noEntryPath, "    branches:\n      main: {path: ./site, commands: [x]}\n"+
			"      staging: {path: ./site/x, commands: [x]}\n"), []string{
			"repos.site.branches.staging.path: inside the working copy of repos.site.branches.main (got"}},
		{"target holds the state folder", site(noEntryPath, "    branches:\n      main: {path: ., commands: [x]}\n"),
			[]string{"repos.site.branches.main.path: overlaps state_dir"}},
		{"target path parent missing", site(entryPath, "    branches:\n      main: {path: ./no/site, commands: [x]}\n"),
			[]string{"repos.site.branches.main.path: parent folder"}},
		{"entry path needed by one target", site(noEntryPath, "    branches:\n      main: {path: ./a, commands: [x]}\n"+
			"      staging: {commands: [x]}\n"), []string{
			"repos.site.path: required, unless every branch and environment sets its own path"}},
		{"across entries", site(noEntryPath, "    branches:\n      main: {path: ./other, commands: [x]}\n") +
			entry("other", "./other"), []string{"repos.site.branches.main.path: same working copy as repos.other (got"}},
		{"across entries, nested", site(noEntryPath, "    branches:\n      main: {path: ./other/x, commands: [x]}\n") +
			entry("other", "./other"), []string{"repos.site.branches.main.path: inside the working copy of repos.other (got"}},
		{"across entries, targets", site(entryPath, "    branches:\n      main: {commands: [x]}\n") +
			strings.Replace(entry("zz", "./zz"), "[make deploy]", "[x]\n        path: ./site/zz", 1),
			[]string{"repos.zz.branches.main.path: inside the working copy of repos.site (got"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml)
			assertErr(t, err, tt.want)
		})
	}
}

func TestRefs(t *testing.T) {
	env := "    environments:\n      production:\n        commands: [x]\n        refs: "
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"on a branch", base + "        refs: [v*]\n",
			[]string{`repos.site.branches.main.refs: only used under environments (got ["v*"])`}},
		{"empty pattern", site(entryPath, env+`[main, ""]`+"\n"), []string{
			"repos.site.environments.production.refs[1]: must not be empty"}},
		{"bad pattern", site(entryPath, env+`["v[", 'a\']`+"\n"), []string{
			`repos.site.environments.production.refs[0]: not a valid pattern: use *, ?, [a-z] and \ to escape; * never matches / (got "v[")`,
			`repos.site.environments.production.refs[1]: not a valid pattern`}},
		{"mapping item", site(entryPath, env+"[{a: b}]\n"), []string{
			"repos.site.environments.production.refs[0]: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml)
			assertErr(t, err, tt.want)
		})
	}
	s, _ := mustLoad(t, site(entryPath, env+"[main, v*, release/*]\n"))
	if got := s.Repos["site"].Environments["production"].Refs; strings.Join(got, " ") != "main v* release/*" {
		t.Errorf("refs = %q", got)
	}
}

func TestAllowsRef(t *testing.T) {
	tests := []struct {
		patterns         []string
		allowed, refused []string
	}{
		{[]string{"main", "v*", "release/*"}, []string{"main", "v1.2.0", "v", "release/2024-06"},
			[]string{"staging", "mainline", "v1/evil", "release/a/b", "release", "0123456789abcdef0123456789abcdef01234567"}},
		{nil, []string{"anything", ""}, nil},
		{[]string{"*"}, nil, []string{"x/y"}},
	}
	for _, tt := range tests {
		target := &settings.Target{Refs: tt.patterns}
		for _, ref := range slices.Concat(tt.allowed, tt.refused) {
			t.Run(ref, func(t *testing.T) {
				if got, want := target.AllowsRef(ref), slices.Contains(tt.allowed, ref); got != want {
					t.Errorf("AllowsRef(%q) with %q = %v, want %v", ref, tt.patterns, got, want)
				}
			})
		}
	}
}
