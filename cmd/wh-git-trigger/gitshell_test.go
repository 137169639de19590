package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

func TestParseGitCommand(t *testing.T) {
	cases := []struct {
		cmd, service, path string // path "" when refused
	}{
		{"git-receive-pack 'site'", "receive-pack", "site"},
		{"git-receive-pack 'site.git'", "receive-pack", "site.git"},
		{"git-upload-pack '/site.git'", "upload-pack", "/site.git"},
		{"git receive-pack '/srv/git/site.git'", "receive-pack", "/srv/git/site.git"},
		{"git-receive-pack site.git", "receive-pack", "site.git"},
		{"git-receive-pack 'it'\\''s'", "", ""},  // a quote is not a name character
		{"git-receive-pack 'a'\\!'b'", "", ""},   // nor is !
		{"git-receive-pack 'a'\\''b", "", ""},    // unterminated
		{"git-receive-pack '../../etc'", "", ""}, // ..
		{"git-receive-pack 'a/../b'", "", ""},    // ..
		{"git-receive-pack '-n'", "", ""},        // an option
		{"git-receive-pack 'site'; touch /tmp/X", "", ""},
		{"git-receive-pack 'site' 'other'", "", ""},
		{"git-receive-pack 'si te'", "", ""},
		{"git-receive-pack '$(id)'", "", ""},
		{"git-receive-pack `id`", "", ""},
		{"git-receive-pack 'a\nb'", "", ""},
		{"git-receive-pack ''", "", ""},
		{"git-receive-pack '/'", "", ""},
		{"git-receive-pack", "", ""},
		{"git-upload-archive 'site'", "", ""},
		{"git-receive-pack  'site'", "", ""},
		{"id", "", ""},
		{"", "", ""},
		{"sh -c 'git-receive-pack site'", "", ""},
	}
	for _, tc := range cases {
		req, err := parseGitCommand(tc.cmd)
		switch {
		case tc.path == "" && !errors.Is(err, errRefused):
			t.Errorf("%q: %+v %v, want it refused", tc.cmd, req, err)
		case tc.path != "" && (err != nil || req.service != tc.service || req.path != tc.path):
			t.Errorf("%q: %+v %v, want %s %s", tc.cmd, req, err, tc.service, tc.path)
		}
	}
	if got, err := gitUnquote(`'a'\''b'\!'c'`); err != nil || got != "a'b!c" {
		t.Errorf("unquote: %q %v", got, err)
	}
}

// Whatever the client sends, --git-shell either refuses it or names one of
// git's two transfer programs and a path of plain characters without ..
// that does not start with -.
func FuzzParseGitCommand(f *testing.F) {
	for _, s := range []string{"git-receive-pack 'site'", "git upload-pack '/srv/a.git'", "git-receive-pack 'a'\\''b'",
		"git-receive-pack '../../etc'", "git-receive-pack 'site'; touch /tmp/X", "id"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		req, err := parseGitCommand(cmd)
		if err != nil {
			if !errors.Is(err, errRefused) {
				t.Fatalf("%q: %v is not a refusal", cmd, err)
			}
			return
		}
		if req.service != "receive-pack" && req.service != "upload-pack" {
			t.Fatalf("%q: service %q", cmd, req.service)
		}
		p := req.path
		if p == "" || strings.Trim(p, safePathChars) != "" || strings.HasPrefix(p, "-") ||
			p == ".." || strings.HasPrefix(p, "../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "/../") {
			t.Fatalf("%q: path %q", cmd, p)
		}
	})
}

func TestGitShellEntry(t *testing.T) {
	const key = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	set := &settings.Settings{Repos: map[string]*settings.Repo{
		"site":  {Provider: settings.Git, Remote: "/srv/git/site.git"},
		"docs":  {Provider: settings.Git, Remote: "/srv/git/docs", PushKeys: []string{key}},
		"forge": {Provider: settings.GitHub, Remote: "/srv/git/forge.git"},
	}}
	for name, r := range set.Repos {
		r.Name = name
	}
	cases := []struct{ path, entry string }{
		{"site", "site"}, {"site.git", "site"}, {"/site", "site"}, {"/site.git", "site"},
		{"/srv/git/site.git", "site"}, {"/srv/git/site", "site"},
		{"docs", "docs"}, {"/srv/git/docs.git", "docs"},
		{"forge", ""}, {"/srv/git/forge.git", ""}, {"srv/git/site.git", ""}, {"other", ""},
	}
	for _, tc := range cases {
		got := ""
		if r, ok := gitShellEntry(set, tc.path); ok {
			got = r.Name
		}
		if got != tc.entry {
			t.Errorf("%q: entry %q, want %q", tc.path, got, tc.entry)
		}
	}
	if !mayUse(set.Repos["site"], "") || mayUse(set.Repos["docs"], "") || !mayUse(set.Repos["docs"], key) ||
		mayUse(set.Repos["docs"], "SHA256:other") {
		t.Error("push_keys: any key for an entry without them, only the listed ones for one with them")
	}
}
