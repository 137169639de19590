// Package gitsynctest provides a real upstream git repository for tests: a
// bare repository in t.TempDir() that tests commit to, force-push, tag and
// serve over smart HTTP, so that code syncing from a forge can be tested
// end to end without mocks.
//
// It drives the git CLI (git must be on PATH) with the user's and the
// system's git configuration ignored, so results do not depend on the host.
// Commits are built with plumbing commands straight into the bare
// repository; no working tree is involved, so any file mode, a symlink or a
// submodule entry can be committed.
//
// Every helper fails the test (t.Fatal) on error; none returns an error.
package gitsynctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Deleted, used as the content of a file in Commit, removes that path from
// the branch. An empty string is an empty file, not a deletion.
const Deleted = "\x00gitsynctest:deleted\x00"

// Mode is the kind of a tree entry written by CommitFiles.
type Mode string

// Modes of CommitFiles entries.
const (
	Regular    Mode = "100644"
	Executable Mode = "100755"
	// Symlink: Content is the link target.
	Symlink Mode = "120000"
	// Gitlink is a submodule entry: Content is the commit SHA.
	Gitlink Mode = "160000"
	// Delete removes the path; Content is ignored.
	Delete Mode = "delete"
)

// File is one entry written by CommitFiles.
type File struct {
	Path    string
	Content string
	Mode    Mode // empty means Regular
}

// Upstream is a bare repository standing in for a forge. It is safe for use
// from several goroutines.
type Upstream struct {
	mu   sync.Mutex
	dir  string // the bare repository
	home string // HOME for git: no user configuration leaks in
	tick int64  // seconds added to the commit date of each new commit
}

// NewUpstream creates an empty bare repository in t.TempDir().
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	root := t.TempDir()
	u := &Upstream{dir: filepath.Join(root, "upstream.git"), home: filepath.Join(root, "home")}
	if err := os.Mkdir(u.home, 0o755); err != nil {
		t.Fatal(err)
	}
	u.run(t, root, nil, "init", "--quiet", "--bare", "--initial-branch=main", u.dir)
	return u
}

// Path is the bare repository's directory, usable as a file-path remote.
func (u *Upstream) Path() string { return u.dir }

// Git runs git with args in the bare repository and returns its trimmed
// standard output: an escape hatch for what the helpers do not cover (for
// example "config uploadpack.allowReachableSHA1InWant true" or "mktree").
func (u *Upstream) Git(t testing.TB, args ...string) string {
	t.Helper()
	return u.run(t, u.dir, nil, args...)
}

// GitInput is Git with stdin.
func (u *Upstream) GitInput(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	return u.runInput(t, u.dir, nil, stdin, args...)
}

// Commit adds or overwrites files (path → content) on top of the tip of
// branch, creating the branch from nothing (a root commit) if it does not
// exist, and returns the new commit's full SHA. A content of Deleted removes
// the path; "" is an empty file. Files are regular (0644).
func (u *Upstream) Commit(t testing.TB, branch string, files map[string]string, msg string) string {
	t.Helper()
	entries := make([]File, 0, len(files))
	for p, c := range files {
		if c == Deleted {
			entries = append(entries, File{Path: p, Mode: Delete})
			continue
		}
		entries = append(entries, File{Path: p, Content: c})
	}
	return u.CommitFiles(t, branch, entries, msg)
}

// CommitFiles is Commit with explicit modes: executables, symlinks,
// submodule entries and deletions.
func (u *Upstream) CommitFiles(t testing.TB, branch string, files []File, msg string) string {
	t.Helper()
	parent := u.tip(t, branch)
	sha := u.commitTree(t, parent, files, msg)
	u.Git(t, "update-ref", "refs/heads/"+branch, sha)
	return sha
}

// CommitTree commits an existing tree object (for example one built with
// "mktree", which accepts names git itself would never write) on top of
// branch, moves the branch to it and returns its SHA.
func (u *Upstream) CommitTree(t testing.TB, branch, tree, msg string) string {
	t.Helper()
	args := []string{"commit-tree", tree, "-m", msg}
	if parent := u.tip(t, branch); parent != "" {
		args = append(args, "-p", parent)
	}
	sha := u.run(t, u.dir, u.dateEnv(), args...)
	u.Git(t, "update-ref", "refs/heads/"+branch, sha)
	return sha
}

// Blob stores content as a blob and returns its SHA, for building trees.
func (u *Upstream) Blob(t testing.TB, content string) string {
	t.Helper()
	return u.runInput(t, u.dir, nil, content, "hash-object", "-w", "--stdin")
}

// Orphan creates a root commit holding only files, on no branch, and
// returns its SHA: an unrelated history to ForcePush a branch to.
func (u *Upstream) Orphan(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	entries := make([]File, 0, len(files))
	for p, c := range files {
		entries = append(entries, File{Path: p, Content: c})
	}
	return u.commitTree(t, "", entries, msg)
}

// ForcePush points branch at sha, any existing commit, like a force-push.
func (u *Upstream) ForcePush(t testing.TB, branch, sha string) {
	t.Helper()
	u.Git(t, "update-ref", "refs/heads/"+branch, sha)
}

// DeleteBranch removes branch.
func (u *Upstream) DeleteBranch(t testing.TB, branch string) {
	t.Helper()
	u.Git(t, "update-ref", "-d", "refs/heads/"+branch)
}

// Tag creates or moves the lightweight tag name to sha.
func (u *Upstream) Tag(t testing.TB, name, sha string) {
	t.Helper()
	u.Git(t, "update-ref", "refs/tags/"+name, sha)
}

// AnnotatedTag creates or replaces an annotated tag object named name
// pointing at sha and returns the tag object's SHA.
func (u *Upstream) AnnotatedTag(t testing.TB, name, sha, msg string) string {
	t.Helper()
	u.Git(t, "tag", "--force", "--annotate", "--message", msg, name, sha)
	return u.Git(t, "rev-parse", "refs/tags/"+name)
}

// Head returns the SHA at the tip of branch; it fails if there is none.
func (u *Upstream) Head(t testing.TB, branch string) string {
	t.Helper()
	return u.Git(t, "rev-parse", "--verify", "refs/heads/"+branch+"^{commit}")
}

// tip returns the tip of branch, or "" if the branch does not exist.
func (u *Upstream) tip(t testing.TB, branch string) string {
	t.Helper()
	cmd := u.command(u.dir, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// commitTree writes files on top of parent's tree (or an empty tree) into a
// new commit and returns its SHA.
func (u *Upstream) commitTree(t testing.TB, parent string, files []File, msg string) string {
	t.Helper()
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(t.TempDir(), "index")}
	if parent != "" {
		u.run(t, u.dir, env, "read-tree", parent)
	} else {
		u.run(t, u.dir, env, "read-tree", "--empty")
	}
	u.runInput(t, u.dir, env, u.indexInfo(t, files), "update-index", "--add", "--replace", "--index-info")
	tree := u.run(t, u.dir, env, "write-tree", "--missing-ok")
	args := []string{"commit-tree", tree, "-m", msg}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	return u.run(t, u.dir, u.dateEnv(), args...)
}

// indexInfo stores the blobs of files and returns the lines for
// "update-index --index-info", sorted by path for a stable result.
func (u *Upstream) indexInfo(t testing.TB, files []File) string {
	t.Helper()
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	blobs := u.blobs(t, sorted)
	var b strings.Builder
	for i, f := range sorted {
		switch f.Mode {
		case Delete:
			fmt.Fprintf(&b, "0 %s\t%s\n", strings.Repeat("0", 40), f.Path)
		case Gitlink:
			fmt.Fprintf(&b, "%s %s\t%s\n", Gitlink, f.Content, f.Path)
		case "":
			fmt.Fprintf(&b, "%s %s\t%s\n", Regular, blobs[i], f.Path)
		default:
			fmt.Fprintf(&b, "%s %s\t%s\n", f.Mode, blobs[i], f.Path)
		}
	}
	return b.String()
}

// blobs stores the content of every file that has a blob with a single
// git process and returns the SHAs by index ("" for the others).
func (u *Upstream) blobs(t testing.TB, files []File) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, f := range files {
		if f.Mode == Delete || f.Mode == Gitlink {
			continue
		}
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(p, []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out := make([]string, len(files))
	if len(paths) == 0 {
		return out
	}
	shas := strings.Fields(u.runInput(t, u.dir, nil, strings.Join(paths, "\n")+"\n",
		"hash-object", "-w", "--no-filters", "--stdin-paths"))
	for i, f := range files {
		if f.Mode != Delete && f.Mode != Gitlink {
			out[i], shas = shas[0], shas[1:]
		}
	}
	return out
}

// dateEnv gives each commit a distinct, increasing date, so that commits
// with the same content still differ and "older" means older.
func (u *Upstream) dateEnv() []string {
	u.mu.Lock()
	u.tick += 60
	date := fmt.Sprintf("@%d +0000", 1700000000+u.tick)
	u.mu.Unlock()
	return []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
}

func (u *Upstream) run(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	return u.runInput(t, dir, env, "", args...)
}

func (u *Upstream) runInput(t testing.TB, dir string, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := u.command(dir, env, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func (u *Upstream) command(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(u.home), env...)
	return cmd
}

// gitEnv is a minimal environment for git: no user or system
// configuration, a fixed identity, never a prompt.
func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=gitsynctest", "GIT_AUTHOR_EMAIL=gitsynctest@example.invalid",
		"GIT_COMMITTER_NAME=gitsynctest", "GIT_COMMITTER_EMAIL=gitsynctest@example.invalid",
	}
}
