package settings_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// Load never panics on any file and any environment, and what it accepts
// is complete: at least one entry, each with a provider, a secret and an
// absolute working copy for every target, and it validates again.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../settings.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(example), "WH_GITD_LOG__LEVEL", "debug")
	f.Add(base, "WH_GITD_REPOS__SITE__SECRET", "from-the-environment")
	f.Add(base+"    allow: [10.0.0.0/8]\n", "WH_GITD_HTTP__READ_TIMEOUT", "3s")
	f.Add(strings.Replace(base, "    path: ./site\n", "", 1)+"        path: ./a\n", "WH_GITD_REPOS__SITE__BRANCHES__MAIN__PATH", "b")
	f.Add(base+"    environments: {p: {refs: [v*, '['], commands: [x]}}\n", "WH_GITD_REPOS__SITE__SHARED_PATH", "true")
	f.Add("allow: [x]\ntls: {cert_file: a}\n"+base, "WH_GITD_REPOS__SITE__BRANCHES__MAIN__ENV__X", "1")
	f.Add("repos: {a: {branches: {b: {commands: [[]]}}}}", "WH_GITD_REPOS____X", "")
	f.Add("a: &a [*a, *a]\n", "WH_GITD_", "")
	f.Fuzz(func(t *testing.T, yaml, envName, envValue string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "settings.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := settings.Load(file, []string{envName + "=" + envValue})
		if err != nil {
			if s != nil {
				t.Fatalf("Load returned settings with an error: %v", err)
			}
			return
		}
		if len(s.Repos) == 0 {
			t.Fatal("accepted settings without a repository")
		}
		for name, r := range s.Repos {
			if r == nil || r.Name != name || r.Secret == "" || r.Provider == "" ||
				len(r.Branches)+len(r.Environments) == 0 {
				t.Fatalf("accepted an incomplete entry %q: %+v", name, r)
			}
			for _, targets := range []map[string]*settings.Target{r.Branches, r.Environments} {
				for tn, target := range targets {
					if target == nil || !filepath.IsAbs(r.WorkingCopy(target)) {
						t.Fatalf("accepted entry %q with target %q without an absolute working copy", name, tn)
					}
				}
			}
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted settings do not validate again: %v", err)
		}
	})
}
