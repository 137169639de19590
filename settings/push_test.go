package settings_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// A provider: git entry needs no secret and no repository, refuses a
// secret, credentials and environments, wants an absolute remote, and
// checks push_keys, which only it may set.
func TestPushEntry(t *testing.T) {
	const key = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	tests := []struct {
		name string
		repo testkit.Repo
		want []string // problems; none: it loads
	}{
		{"minimal", testkit.Repo{}, nil},
		{"display name and keys", testkit.Repo{Repository: "Our site", Extra: "push_keys: [" + key + "]"}, nil},
		{"two entries, one repository", testkit.Repo{Name: "staging", Path: "wc-staging",
			Branches: []testkit.Target{{Name: "staging"}}}, nil},
		{"secret", testkit.Repo{Secret: testkit.Secret}, []string{"repos.site.secret: not used with provider: git"}},
		{"secret file", testkit.Repo{Extra: "secret_file: /etc/hostname"}, []string{"repos.site.secret_file: not used with provider: git"}},
		{"relative remote", testkit.Repo{Remote: "repo.git"}, []string{"repos.site.remote: must be the absolute path of the bare repository"}},
		{"URL remote", testkit.Repo{Remote: "https://example.com/a/b.git"}, []string{"repos.site.remote: must be the absolute path"}},
		{"auth", testkit.Repo{Extra: "auth: {token_file: /etc/hostname}"}, []string{"repos.site.auth: not used with provider: git"}},
		{"status", testkit.Repo{Extra: "status: {token_file: /etc/hostname, api_url: https://git.example.com/api/v1}"},
			[]string{"repos.site.status: a provider: git entry has no forge to post statuses to"}},
		{"environments", testkit.Repo{Environments: []testkit.Target{{Name: "production", Branch: "main"}}},
			[]string{"repos.site.environments: not used with provider: git: a push names a branch"}},
		{"bad key", testkit.Repo{Extra: "push_keys: [ssh-ed25519 AAAA]"},
			[]string{`repos.site.push_keys[0]: must be a key fingerprint as ssh-keygen -lf -f KEY.pub prints it, SHA256: and 43 characters (got "ssh-ed25519 AAAA")`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			site := testkit.Repo{Provider: settings.Git, Remote: filepath.Join(dir, "repo.git")}
			repos := []testkit.Repo{site}
			if tc.repo.Name != "" {
				tc.repo.Provider, tc.repo.Remote = settings.Git, site.Remote
				repos = append(repos, tc.repo)
			} else {
				tc.repo.Provider, tc.repo.Name = settings.Git, ""
				if tc.repo.Remote == "" {
					tc.repo.Remote = site.Remote
				}
				repos = []testkit.Repo{tc.repo}
			}
			file := testkit.File{Repos: repos}.Write(t, dir)
			_, err := settings.Load(file, nil)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("load:\n%v\n%s", err, testkit.ReadFile(t, file))
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("want %q, got:\n%v", w, err)
				}
			}
		})
	}
}

// push_keys belongs to provider: git entries alone.
func TestPushKeysOnAForgeEntry(t *testing.T) {
	f := testkit.File{Repos: []testkit.Repo{{Extra: "push_keys: [SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU]"}}}
	_, err := settings.Load(f.Write(t, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "repos.site.push_keys: only used with provider: git") {
		t.Fatalf("got %v", err)
	}
}
