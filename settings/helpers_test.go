package settings_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

const secret = "s3cr3t-Value-0042"

// entry is a minimal valid repository entry.
func entry(name, path string) string {
	return "  " + name + `:
    provider: github
    repository: example/site
    remote: https://github.com/example/site.git
    path: ` + path + `
    secret: ` + secret + `
    branches:
      main:
        commands: [make deploy]
`
}

// base is a minimal valid file; tests append to it or replace parts of it.
var base = "state_dir: ./state\nrepos:\n" + entry("site", "./site")

// write puts files (name → content) in a fresh folder and returns the folder.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		testkit.WriteFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// load writes yaml as settings.yaml in a fresh folder and loads it with
// env; it returns the folder too.
func load(t *testing.T, yaml string, env ...string) (*settings.Settings, string, error) {
	t.Helper()
	dir := write(t, map[string]string{"settings.yaml": yaml})
	s, err := settings.Load(filepath.Join(dir, "settings.yaml"), env)
	return s, dir, err
}

// mustLoad is load, failing the test on error.
func mustLoad(t *testing.T, yaml string, env ...string) (*settings.Settings, string) {
	t.Helper()
	s, dir, err := load(t, yaml, env...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s, dir
}

// assertErr checks that err holds every one of want.
func assertErr(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want an error holding %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not hold %q:\n%v", w, err)
		}
	}
}
