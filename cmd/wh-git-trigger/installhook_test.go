package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// --install-hook makes the bare repository on its first branch, writes the
// hook and turns push options on; run again, or for a second entry of the
// same repository, it finds the hook in place; it replaces someone else's
// hook only with --force.
func TestInstallHook(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "srv", "site.git")
	f := testkit.File{Repos: []testkit.Repo{
		{Name: "site", Provider: settings.Git, Remote: bare, Path: "wc-site", Extra: "shared_path: true",
			Branches: []testkit.Target{{Name: "staging"}, {Name: "production"}, {}}},
		{Name: "docs", Provider: settings.Git, Remote: bare, Path: "wc-docs", Branches: []testkit.Target{{Name: "docs"}}},
		{Name: "forge", Remote: "/srv/nowhere", Path: "wc-forge"},
	}}
	file := f.Write(t, dir)
	hook := filepath.Join(bare, "hooks", "post-receive")
	steps := []struct {
		name   string
		before func()
		args   []string
		code   int
		out    []string
	}{
		{"first", nil, []string{file, "site", "--install-hook"}, 0, []string{
			"created the bare repository " + bare + " (initial branch main)", "installed the hook " + hook,
			"git remote add deploy ", "@", ":site", "git remote add deploy " + bare, "git push deploy main"}},
		{"again", nil, []string{file, "site", "--install-hook"}, 0, []string{"the hook " + hook + " is already in place"}},
		{"second entry", nil, []string{file, "docs", "--install-hook"}, 0, []string{"is already in place", ":docs"}},
		{"someone else's hook", func() { testkit.WriteFile(t, hook, "#!/bin/sh\nmail -s pushed ops\n") },
			[]string{file, "docs", "--install-hook"}, 1, []string{
				"wh-git-trigger: " + hook + " is another program's hook: not replacing it", "hint: look at it first; --force replaces it"}},
		{"forced", nil, []string{file, "docs", "--install-hook", "--force"}, 0, []string{"replaced the hook " + hook}},
		{"a forge entry", nil, []string{file, "forge", "--install-hook"}, 2, []string{
			`entry "forge" has provider github: --install-hook is for provider: git entries`}},
		{"unknown entry", nil, []string{file, "nope", "--install-hook"}, 2, []string{`no repository entry "nope"`}},
		{"not a bare repository", func() {
			testkit.Git(t, dir, "init", "--quiet", filepath.Join(dir, "plain"))
			testkit.WriteFile(t, file, strings.Replace(f.String(), bare, filepath.Join(dir, "plain"), -1))
		}, []string{file, "site", "--install-hook"}, 2, []string{"is not a bare git repository"}},
		{"no name", nil, []string{file, "--install-hook"}, 2, []string{"expected a settings file and an entry name"}},
		{"force alone", nil, []string{file, "site", "--force"}, 2, []string{"--force goes with --install-hook"}},
		{"two modes", nil, []string{file, "--post-receive", "--git-shell"}, 2, []string{"do not go together"}},
		{"git-shell, too many", nil, []string{file, "--git-shell", "a", "b"}, 2, []string{"an optional key fingerprint, got 3"}},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		var out, errb bytes.Buffer
		code := cli.Exit("wh-git-trigger", run(context.Background(), st.args, &out, &errb), &errb)
		all := out.String() + errb.String()
		if code != st.code {
			t.Errorf("%s: exit %d, want %d\n%s", st.name, code, st.code, all)
		}
		for _, w := range st.out {
			if !strings.Contains(all, w) {
				t.Errorf("%s: output lacks %q:\n%s", st.name, w, all)
			}
		}
		if st.name == "first" {
			checkInstalled(t, bare, hook, file)
		}
	}
}

// checkInstalled checks the hook and the repository's settings.
func checkInstalled(t *testing.T, bare, hook, file string) {
	t.Helper()
	exe, _ := os.Executable()
	script := testkit.ReadFile(t, hook)
	if !strings.Contains(script, "exec "+shellQuote(exe)+" "+shellQuote(file)+" --post-receive\n") {
		t.Errorf("hook:\n%s", script)
	}
	if fi, err := os.Stat(hook); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("hook is not executable: %v", err)
	}
	for args, want := range map[string]string{
		"config receive.advertisePushOptions": "true", "rev-parse --is-bare-repository": "true",
		"symbolic-ref HEAD": "refs/heads/main",
	} {
		if got := testkit.Git(t, bare, strings.Fields(args)...); got != want {
			t.Errorf("git %s: %q, want %q", args, got, want)
		}
	}
}
