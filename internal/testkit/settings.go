// Package testkit holds the helpers the project's tests share: settings
// files built from a short Go description, signed webhook deliveries as each
// forge sends them, polling with a deadline, and small file, git, process,
// socket and TLS certificate helpers. It knows the settings and the forges'
// wire formats, never the types of the receiver, the runner or the job
// store.
//
// The helpers that take a testing.TB fail the test on error and return
// none; Do, ServedCert and Delivery.Headers take none, so they may run off
// the test's goroutine.
package testkit

import (
	"cmp"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// Secret is the webhook secret of an entry that names none, and the key a
// Delivery signs with when it names none: longer than the 16 characters
// the settings require.
const Secret = "testkit-secret-0123456789"

// File describes a settings file. The zero File is a valid file: one
// GitHub entry "site" whose branch main runs true.
type File struct {
	// Listen is listen: (default 127.0.0.1:0, a free port).
	Listen string
	// StateDir is state_dir: (default state).
	StateDir string
	// Top is more top-level YAML (workers: 2, api: {token: x}, ...), at any
	// indentation, written after listen and state_dir, which it must not set.
	Top string
	// Repos are the entries under repos:, in order (default one zero Repo).
	Repos []Repo
}

// Repo is one entry under repos:.
type Repo struct {
	Name       string // the entry's key (default site)
	Provider   string // default github
	Repository string // default acme/<Name> (none for provider git)
	Remote     string // default /nonexistent
	Path       string // default wc-<Name>
	Secret     string // default Secret (none for provider git)
	// Extra is more YAML of the entry (shared_path: true, depth: 0, a whole
	// environments: block, ...), at any indentation: the indentation its
	// lines share is replaced by the entry's.
	Extra string
	// Branches and Environments are the entry's targets. With no branch
	// and no environment in any form the entry gets main running true.
	Branches, Environments []Target
	// BranchesYAML is the whole branches: block as YAML, at any
	// indentation, in place of Branches.
	BranchesYAML string
}

// Target is one branch or environment of an entry.
type Target struct {
	Name     string            // default main
	Branch   string            // branch: of an environment
	Path     string            // path: of the target's own working copy
	Commands []string          // shell commands (default true)
	Env      map[string]string // env:
	Timeout  string            // timeout:, written as given ("90s", "banana")
	// Extra is more YAML of the target (refs: [v*], workdir: x), at any
	// indentation.
	Extra string
	// YAML, when set, is the whole target as YAML, a flow mapping such as
	// {commands: [[/bin/false]]} or block lines, in place of every field
	// but Name.
	YAML string
}

// String renders f as YAML.
func (f File) String() string {
	var b strings.Builder
	b.WriteString("listen: " + strconv.Quote(cmp.Or(f.Listen, "127.0.0.1:0")) + "\n")
	b.WriteString("state_dir: " + strconv.Quote(cmp.Or(f.StateDir, "state")) + "\n")
	b.WriteString(indent(f.Top, 0))
	b.WriteString("repos:\n")
	repos := f.Repos
	if len(repos) == 0 {
		repos = []Repo{{}}
	}
	for _, r := range repos {
		r.write(&b)
	}
	return b.String()
}

func (r Repo) write(b *strings.Builder) {
	name := cmp.Or(r.Name, "site")
	b.WriteString("  " + strconv.Quote(name) + ":\n")
	for _, kv := range [][2]string{{"provider", cmp.Or(r.Provider, settings.GitHub)},
		{"repository", cmp.Or(r.Repository, "acme/"+name)}, {"remote", cmp.Or(r.Remote, "/nonexistent")},
		{"path", cmp.Or(r.Path, "wc-"+name)}, {"secret", cmp.Or(r.Secret, Secret)}} {
		if r.Provider == settings.Git && (kv[0] == "repository" && r.Repository == "" || kv[0] == "secret" && r.Secret == "") {
			continue // a repository pushed to on this host needs neither
		}
		b.WriteString("    " + kv[0] + ": " + strconv.Quote(kv[1]) + "\n")
	}
	b.WriteString(indent(r.Extra, 4))
	branches := r.Branches
	if r.BranchesYAML == "" && len(r.Branches) == 0 && len(r.Environments) == 0 {
		branches = []Target{{}}
	}
	if r.BranchesYAML != "" {
		b.WriteString("    branches:\n" + indent(r.BranchesYAML, 6))
	}
	for i, ts := range [][]Target{branches, r.Environments} {
		if len(ts) > 0 {
			b.WriteString("    " + [...]string{"branches", "environments"}[i] + ":\n")
			for _, t := range ts {
				t.write(b)
			}
		}
	}
}

func (t Target) write(b *strings.Builder) {
	key := "      " + strconv.Quote(cmp.Or(t.Name, "main")) + ":"
	if y := strings.TrimSpace(t.YAML); y != "" && !strings.Contains(y, "\n") {
		b.WriteString(key + " " + y + "\n")
		return
	}
	b.WriteString(key + "\n")
	if t.YAML != "" {
		b.WriteString(indent(t.YAML, 8))
		return
	}
	for _, kv := range [][2]string{{"branch", t.Branch}, {"path", t.Path}} {
		if kv[1] != "" {
			b.WriteString("        " + kv[0] + ": " + strconv.Quote(kv[1]) + "\n")
		}
	}
	b.WriteString("        commands:\n")
	commands := t.Commands
	if len(commands) == 0 {
		commands = []string{"true"}
	}
	for _, c := range commands {
		b.WriteString("          - " + strconv.Quote(c) + "\n")
	}
	if len(t.Env) > 0 {
		b.WriteString("        env:\n")
		for _, k := range slices.Sorted(maps.Keys(t.Env)) {
			b.WriteString("          " + strconv.Quote(k) + ": " + strconv.Quote(t.Env[k]) + "\n")
		}
	}
	if t.Timeout != "" {
		b.WriteString("        timeout: " + t.Timeout + "\n")
	}
	b.WriteString(indent(t.Extra, 8))
}

// Write writes f as settings.yaml in dir (a new temporary folder when dir
// is "") and returns the file's path.
func (f File) Write(t testing.TB, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return WriteFile(t, filepath.Join(dir, "settings.yaml"), f.String())
}

// Load writes f as settings.yaml in dir (a new temporary folder when dir is
// "") and loads it with settings.Load.
func (f File) Load(t testing.TB, dir string) *settings.Settings {
	t.Helper()
	return LoadFile(t, f.Write(t, dir))
}

// LoadFile loads the settings file at path with settings.Load and no
// environment overrides, failing the test with the file's text shown.
func LoadFile(t testing.TB, path string) *settings.Settings {
	t.Helper()
	set, err := settings.Load(path, nil)
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("settings %s:\n%s\n%v", path, b, err)
	}
	return set
}

// indent re-indents the YAML lines of text by n spaces, in place of the
// indentation its non-blank lines share, and ends it with a newline.
func indent(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			k := len(l) - len(strings.TrimLeft(l, " "))
			if common < 0 || k < common {
				common = k
			}
		}
	}
	if common < 0 {
		return ""
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString(strings.Repeat(" ", n) + l[common:])
		}
		b.WriteString("\n")
	}
	return b.String()
}
