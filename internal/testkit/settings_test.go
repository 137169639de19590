package testkit_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

func TestFileLoads(t *testing.T) {
	cases := []struct {
		name  string
		file  testkit.File
		check func(t *testing.T, set *settings.Settings)
	}{
		{"zero file", testkit.File{}, func(t *testing.T, set *settings.Settings) {
			r := set.Repos["site"]
			if set.Listen != "127.0.0.1:0" || r.Provider != settings.GitHub || r.Repository != "acme/site" ||
				r.Remote != "/nonexistent" || r.Secret != testkit.Secret || filepath.Base(r.Path) != "wc-site" {
				t.Errorf("defaults: listen %s, entry %+v", set.Listen, r)
			}
			if c := r.Branches["main"].Commands; len(c) != 1 || c[0].Shell != "true" {
				t.Errorf("default branch main runs %v, want true", c)
			}
		}},
		{"fields", testkit.File{Top: "workers: 3\napi: {token: tok-0123456789abcdef}\n", Repos: []testkit.Repo{{
			Name: "gl", Provider: settings.GitLab, Repository: "group/site", Extra: "shared_path: true\ndepth: 0",
			Branches: []testkit.Target{
				{Commands: []string{`echo "$WH_SHA" >> 'x y'`, "true"}, Env: map[string]string{"REC": "a: b"}, Timeout: "90s"},
				{Name: "feature/x", Path: "own", Extra: "workdir: sub"},
			},
			Environments: []testkit.Target{{Name: "production", Branch: "main", Extra: "refs: [main, \"v*\"]"}},
		}}}, func(t *testing.T, set *settings.Settings) {
			r := set.Repos["gl"]
			main, fx, prod := r.Branches["main"], r.Branches["feature/x"], r.Environments["production"]
			if set.Workers != 3 || set.API.Token == "" || !r.SharedPath || r.Depth != 0 || r.Provider != settings.GitLab {
				t.Errorf("top or entry keys lost: workers %d, entry %+v", set.Workers, r)
			}
			if main.Commands[0].Shell != `echo "$WH_SHA" >> 'x y'` || main.Env["REC"] != "a: b" || main.Timeout != 90*time.Second {
				t.Errorf("main: %+v", main)
			}
			if filepath.Base(fx.Path) != "own" || fx.Workdir != "sub" || prod.Branch != "main" ||
				!reflect.DeepEqual(prod.Refs, []string{"main", "v*"}) {
				t.Errorf("feature/x %+v, production %+v", fx, prod)
			}
		}},
		{"raw YAML", testkit.File{Repos: []testkit.Repo{
			{Name: "a", BranchesYAML: "      main:\n        commands: [[sh, -c, 'exit 0']]\n        timeout: 5s",
				Extra: "    environments:\n      staging:\n        branch: main\n        commands: ['true']\n"},
			{Name: "b", Extra: "shared_path: true", Branches: []testkit.Target{{YAML: "{commands: [[/bin/true]], timeout: 7s}"},
				{Name: "dev", YAML: "commands:\n  - 'true'\nenv: {K: v}"}}},
		}}, func(t *testing.T, set *settings.Settings) {
			a, b := set.Repos["a"], set.Repos["b"]
			if got := a.Branches["main"].Commands[0].Argv; !reflect.DeepEqual(got, []string{"sh", "-c", "exit 0"}) ||
				a.Environments["staging"] == nil {
				t.Errorf("entry a: %+v", a)
			}
			if b.Branches["main"].Timeout != 7*time.Second || b.Branches["dev"].Env["K"] != "v" {
				t.Errorf("entry b: %+v %+v", b.Branches["main"], b.Branches["dev"])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			set := tc.file.Load(t, dir)
			if set.File != filepath.Join(dir, "settings.yaml") || set.StateDir != filepath.Join(dir, "state") {
				t.Errorf("file %s, state dir %s", set.File, set.StateDir)
			}
			tc.check(t, set)
		})
	}
}

// A file that does not load fails the test with its text and the error.
func TestLoadFileShowsTheYAML(t *testing.T) {
	f := testkit.File{Top: "workers: 0", Repos: []testkit.Repo{{Branches: []testkit.Target{{Timeout: "banana"}}}}}
	path := f.Write(t, "")
	msg := fatal(t, func(tb testing.TB) { testkit.LoadFile(tb, path) })
	for _, want := range []string{f.String(), "workers", "repos.site.branches.main.timeout"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure lacks %q:\n%s", want, msg)
		}
	}
}

// fakeTB records the first failure and ends the goroutine, as a real
// test's FailNow does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// fatal runs fn with a fake TB on its own goroutine and returns the
// failure it reported, failing t if there was none.
func fatal(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	if f.msg == "" {
		t.Fatal("no failure reported")
	}
	return f.msg
}
