package settings_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   []string
		check func(s *settings.Settings) (got, want any)
	}{
		{"scalar", base, []string{"WH_GITD_WORKERS=7"},
			func(s *settings.Settings) (any, any) { return s.Workers, 7 }},
		{"nested scalar", base, []string{"WH_GITD_LOG__LEVEL=debug"},
			func(s *settings.Settings) (any, any) { return s.Log.Level, "debug" }},
		{"duration", base, []string{"WH_GITD_REPOS__SITE__GIT_TIMEOUT=90s"},
			func(s *settings.Settings) (any, any) { return s.Repos["site"].GitTimeout, 90 * time.Second }},
		{"repo secret", base, []string{"WH_GITD_REPOS__SITE__SECRET=from-the-environment"},
			func(s *settings.Settings) (any, any) { return s.Repos["site"].Secret, "from-the-environment" }},
		{"repo name with a dash", strings.Replace(base, "  site:", "  my-site:", 1),
			[]string{"WH_GITD_REPOS__MY_SITE__SECRET=from-the-environment"},
			func(s *settings.Settings) (any, any) { return s.Repos["my-site"].Secret, "from-the-environment" }},
		{"no case-variant entry", strings.Replace(base, "  site:", "  My-Site:", 1),
			[]string{"WH_GITD_REPOS__MY_SITE__SECRET=from-the-environment"},
			func(s *settings.Settings) (any, any) {
				return []any{s.RepoNames(), s.Repos["My-Site"].Secret}, []any{[]string{"My-Site"}, "from-the-environment"}
			}},
		{"lower-case variable", base, []string{"WH_GITD_repos__site__secret=from-the-environment"},
			func(s *settings.Settings) (any, any) { return s.Repos["site"].Secret, "from-the-environment" }},
		{"branch with a slash", strings.Replace(base, "      main:", "      release/v1.2:", 1),
			[]string{"WH_GITD_REPOS__SITE__BRANCHES__RELEASE_V1_2__TIMEOUT=1m"},
			func(s *settings.Settings) (any, any) {
				return s.Repos["site"].Branches["release/v1.2"].Timeout, time.Minute
			}},
		{"command env keeps its case", base, []string{"WH_GITD_REPOS__SITE__BRANCHES__MAIN__ENV__API_URL=http://x"},
			func(s *settings.Settings) (any, any) {
				return s.Repos["site"].Branches["main"].Env, map[string]string{"API_URL": "http://x"}
			}},
		{"other prefixes ignored", base, []string{"WH_GITDX=1", "HOME=/root", "WH_REPO=x"},
			func(s *settings.Settings) (any, any) { return s.Workers, 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustLoad(t, tt.yaml, tt.env...)
			if got, want := tt.check(s); !reflect.DeepEqual(got, want) {
				t.Errorf("got %#v, want %#v", got, want)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	twoSites := base + entry("my-site", "./a") + entry("my_site", "./b")
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{"unknown key", base, []string{"WH_GITD_LISTN=:80"},
			[]string{"listn: unknown key (set by WH_GITD_LISTN)"}},
		{"bad value", base, []string{"WH_GITD_WORKERS=0"},
			[]string{"workers: must be at least 1 (got 0) (set by WH_GITD_WORKERS)"}},
		{"empty segment", base, []string{"WH_GITD_REPOS____SITE=x"},
			[]string{"WH_GITD_REPOS____SITE: has an empty key segment"}},
		{"ambiguous", twoSites, []string{"WH_GITD_REPOS__MY_SITE__SECRET=x"},
			[]string{"WH_GITD_REPOS__MY_SITE__SECRET: matches more than one key: repos.my-site, repos.my_site"}},
		{"new repo from env is validated", base, []string{"WH_GITD_REPOS__OTHER__SECRET=x"},
			[]string{"repos.other.provider: must be one of", "repos.other: needs at least one branch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml, tt.env...)
			assertErr(t, err, tt.want)
		})
	}
}
