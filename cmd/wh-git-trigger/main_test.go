package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

func TestTrigger(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	b := up.Commit(t, "main", map[string]string{"f": "b"}, "b")
	up.Commit(t, "dev", map[string]string{"f": "d"}, "d")
	f := testkit.File{Repos: []testkit.Repo{
		{Name: "one", Remote: up.Path(), Branches: []testkit.Target{
			{Commands: []string{`echo "deploying $WH_BRANCH at $WH_SHA by $WH_EVENT"`, "cat f"}}}},
		{Name: "two", Provider: settings.GitLab, Remote: up.Path(), Extra: "shared_path: true",
			Branches:     []testkit.Target{{}, {Name: "dev", Commands: []string{"echo failing; exit 7"}}},
			Environments: []testkit.Target{{Name: "production", Branch: "main", Commands: []string{`echo "env $WH_ENVIRONMENT"`}}}},
	}}
	file := f.Write(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	f.StateDir = "nowhere"
	missing := testkit.WriteFile(t, filepath.Join(dir, "missing.yaml"), f.String())
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"the only branch", []string{file, "one"}, 0, []string{"deploying main at " + b + " by manual", "Z b\n"}, nil},
		{"flags after the positionals", []string{file, "one", "--sha", a}, 0, []string{"at " + a, "Z a\n"}, nil},
		{"flags before", []string{"--branch", "main", file, "one"}, 0, []string{"deploying main"}, nil},
		{"environment", []string{file, "two", "--environment", "production"}, 0, []string{"env production"}, nil},
		{"failing command", []string{file, "two", "--branch", "dev"}, 1, []string{"failing"},
			[]string{"wh-git-trigger: job", "failed", "exit status 7"}},
		{"several branches", []string{file, "two"}, 2, nil, []string{"several branches", "hint: name one branch of: dev, main"}},
		{"unknown entry", []string{file, "three"}, 2, nil, []string{`no repository entry "three"`, "hint: configured entries: one, two"}},
		{"unknown branch", []string{file, "one", "--branch", "dev"}, 2, nil, []string{`branch "dev" is not configured`}},
		{"unknown environment", []string{file, "two", "--environment", "qa"}, 2, nil, []string{`no environment "qa"`}},
		{"missing name", []string{file}, 2, nil, []string{"expected a settings file and an entry name"}},
		{"branch and environment", []string{file, "two", "--branch", "main", "--environment", "production"}, 2, nil,
			[]string{"wh-git-trigger: --branch and --environment both name what to deploy: give one", "hint: "}},
		{"short sha", []string{file, "one", "--sha", a[:12]}, 2, nil,
			[]string{"wh-git-trigger: --sha must be a full lowercase SHA-1 of 40 hex digits (got \"" + a[:12] + "\")",
				"hint: git rev-parse COMMIT prints the full SHA-1"}},
		{"upper-case sha", []string{file, "one", "--sha", strings.ToUpper(a)}, 2, nil, []string{"--sha must be a full lowercase SHA-1"}},
		{"state dir missing", []string{missing, "one"}, 2, nil, []string{
			"wh-git-trigger: no daemon is running, and state_dir " + filepath.Join(dir, "nowhere") + " does not exist: the daemon has never run",
			"hint: start wh-gitd with these settings first"}},
		{"list, state dir missing", []string{missing, "--list"}, 2, nil, []string{"state_dir " + filepath.Join(dir, "nowhere") + " does not exist"}},
		{"cancel without the daemon", []string{file, "--cancel", "x"}, 1, nil,
			[]string{"wh-git-trigger: cancel job x: no daemon answers on " + filepath.Join(dir, "state", "control.sock"), "hint: "}},
		{"list and cancel", []string{file, "--list", "--cancel", "x"}, 2, nil, []string{"--list, --show, --cancel, --install-hook, --post-receive and --git-shell do not go together"}},
		{"list with a name", []string{file, "one", "--list"}, 2, nil, []string{"expected the settings file alone"}},
		{"help", []string{"--help"}, 0, nil, []string{"usage: wh-git-trigger"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "missing") {
				defer func() {
					if nowhere := filepath.Join(dir, "nowhere"); testkit.Exists(nowhere) {
						t.Errorf("%s was created", nowhere)
					}
				}()
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb)
			code := cli.Exit("wh-git-trigger", err, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}
