package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// refUpdate is one line of git's post-receive input: a ref moved from old
// to new. An all-zero old means the ref was created, an all-zero new that
// it was deleted.
type refUpdate struct {
	old, new, ref string
}

func (u refUpdate) created() bool { return strings.Trim(u.old, "0") == "" }
func (u refUpdate) deleted() bool { return strings.Trim(u.new, "0") == "" }

// maxRefLine bounds one input line: two 64-hex ids and a ref git accepts.
const maxRefLine = 64 << 10

// parseRefUpdate parses one line of post-receive input, "<old> <new> <ref>":
// two object ids of the same length (40 hex digits for SHA-1, 64 for
// SHA-256, lowercase) and a ref name under refs/.
func parseRefUpdate(line string) (refUpdate, error) {
	parts := strings.Split(line, " ")
	if len(parts) != 3 {
		return refUpdate{}, fmt.Errorf("want <old> <new> <ref>, got %d fields", len(parts))
	}
	u := refUpdate{old: parts[0], new: parts[1], ref: parts[2]}
	switch {
	case !objectID(u.old) || !objectID(u.new):
		return refUpdate{}, fmt.Errorf("object ids must be 40 or 64 lowercase hex digits")
	case len(u.old) != len(u.new):
		return refUpdate{}, fmt.Errorf("object ids of different lengths")
	case u.created() && u.deleted():
		return refUpdate{}, fmt.Errorf("both object ids are zero")
	case !strings.HasPrefix(u.ref, "refs/") || len(u.ref) == len("refs/"):
		return refUpdate{}, fmt.Errorf("ref must start with refs/")
	case strings.IndexFunc(u.ref, isSpaceOrControl) >= 0:
		return refUpdate{}, fmt.Errorf("ref holds a space or control character")
	}
	return u, nil
}

// objectID reports whether s is a full object id: 40 or 64 lowercase hex.
func objectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// readRefUpdates reads every line of post-receive input; a line that does
// not parse is returned in bad, with the reason, and the others go on.
func readRefUpdates(r io.Reader) (updates []refUpdate, bad []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxRefLine)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		u, perr := parseRefUpdate(line)
		if perr != nil {
			bad = append(bad, fmt.Sprintf("%.120q: %v", line, perr))
			continue
		}
		updates = append(updates, u)
	}
	if err := sc.Err(); err != nil {
		return updates, bad, fmt.Errorf("read the hook's input: %w", err)
	}
	return updates, bad, nil
}

// pushJob is one job a push starts: entry repo's branch at the pushed
// commit.
type pushJob struct {
	repo   *settings.Repo
	branch string
	sha    string
}

// planPush maps a push's ref updates onto jobs of the entries that deploy
// from the repository the hook runs in: one job per configured branch
// created or updated, per entry; every other update is listed in ignored
// with the reason.
func planPush(entries []*settings.Repo, updates []refUpdate) (jobs []pushJob, ignored []string) {
	for _, u := range updates {
		branch, isBranch := strings.CutPrefix(u.ref, "refs/heads/")
		var reason string
		switch {
		case strings.HasPrefix(u.ref, "refs/tags/"):
			reason = "a tag: only branches deploy"
		case !isBranch:
			reason = "not a branch"
		case u.deleted():
			reason = "deleted: nothing to deploy"
		case !job.ValidSHA(u.new):
			reason = "a SHA-256 commit: the sync reads SHA-1 repositories only"
		}
		n := len(jobs)
		for _, e := range entries {
			if _, ok := e.Target(branch, ""); ok && reason == "" {
				jobs = append(jobs, pushJob{repo: e, branch: branch, sha: u.new})
			}
		}
		if reason == "" && len(jobs) == n {
			reason = "no entry deploys this branch"
		}
		if reason != "" {
			ignored = append(ignored, u.ref+": "+reason)
		}
	}
	return jobs, ignored
}

// pushEntries returns the provider: git entries whose remote is the
// repository at dir, sorted by name.
func pushEntries(set *settings.Settings, dir string) []*settings.Repo {
	var out []*settings.Repo
	for _, name := range set.RepoNames() {
		if r, _ := set.Repo(name); r != nil && r.Provider == settings.Git && sameRepo(r.Remote, dir) {
			out = append(out, r)
		}
	}
	return out
}

// sameRepo reports whether remote (as configured) and dir (where the hook
// runs) are the same repository: the same folder once symbolic links are
// resolved, with or without a .git suffix on the configured name.
func sameRepo(remote, dir string) bool {
	want := canonical(dir)
	base := strings.TrimSuffix(filepath.Clean(remote), ".git")
	for _, p := range []string{remote, base, base + ".git"} {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() && canonical(p) == want {
			return true
		}
	}
	return false
}

// canonical is path made absolute with its symbolic links resolved, or
// cleaned when it cannot be resolved.
func canonical(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return filepath.Clean(path)
}
