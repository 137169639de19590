package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
)

// syncingMarker exists in .git while a sync runs. Found at the start of a
// sync, it means the last one was killed part-way (a crash, kill -9, a
// reboot), which can leave go-git's object store inconsistent: a pack
// written without its shallow list, refs ahead of the objects.
const syncingMarker = "wh-gitd-syncing"

// markSyncing creates the marker; done removes it once the sync succeeded.
func markSyncing(wc *workingCopy) (done func(), err error) {
	path := filepath.Join(wc.gitDir, syncingMarker)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return nil, fmt.Errorf("mark sync of %s: %w", wc.path, err)
	}
	return func() { _ = os.Remove(path) }, nil
}

// oldGitDir is where a repair moves the broken .git before making a new
// one; found at start, it means the repair itself was interrupted.
const oldGitDir = ".git.wh-gitd-old"

// repairInterrupted makes the repository again when the last sync was
// killed part-way: .git is moved aside (one rename, so a kill leaves either
// the old or no .git, never half of one), made anew and fetched, while the
// working copy's files stay (the checkout then compares them with the
// target commit, so untracked and ignored files survive as in any sync).
// The remote holds everything .git held, but for commits made by hand in
// the working copy, which a deploy working copy should not have.
func (s *Syncer) repairInterrupted(wc *workingCopy, t Target, rem *remote, jl *jobLog) (*workingCopy, error) {
	if _, err := os.Stat(filepath.Join(wc.gitDir, syncingMarker)); err != nil {
		return wc, nil
	}
	gitDir := wc.gitDir
	_ = wc.close()
	if filepath.Base(gitDir) != ".git" || filepath.Dir(gitDir) != filepath.Clean(t.Path) {
		return nil, fmt.Errorf("repair %s: its git dir %s is not %s/.git; repair it by hand", t.Path, gitDir, t.Path)
	}
	return s.repair(t, rem, jl)
}

// wasInterrupted reports whether path/.git holds the marker of a sync that
// did not finish.
func wasInterrupted(path string) bool {
	_, err := os.Stat(filepath.Join(path, ".git", syncingMarker))
	return err == nil
}

// repair moves path/.git aside and makes the repository again.
func (s *Syncer) repair(t Target, rem *remote, jl *jobLog) (*workingCopy, error) {
	jl.printf("the last sync of %s was interrupted; fetching its repository again (the files stay)", t.Path)
	jl.logger.Warn().Str("path", t.Path).Msg("repairing a working copy whose last sync was interrupted")
	old := filepath.Join(t.Path, oldGitDir)
	if err := os.RemoveAll(old); err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	if err := os.Rename(filepath.Join(t.Path, ".git"), old); err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	return s.remake(t, rem, jl)
}

// remake makes a new .git at t.Path, marked as syncing, then drops the old
// one a repair moved aside, and opens it.
func (s *Syncer) remake(t Target, rem *remote, jl *jobLog) (*workingCopy, error) {
	if err := os.RemoveAll(filepath.Join(t.Path, ".git")); err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	repo, err := initRepo(t.Path, rem, jl)
	if err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	_ = repo.Storer.(interface{ Close() error }).Close()
	if err := os.WriteFile(filepath.Join(t.Path, ".git", syncingMarker), nil, 0o600); err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	if err := os.RemoveAll(filepath.Join(t.Path, oldGitDir)); err != nil {
		return nil, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	return s.open(t, rem, jl)
}

// repairWasInterrupted reports whether a repair left its moved-aside .git.
func repairWasInterrupted(path string) bool {
	_, err := os.Stat(filepath.Join(path, oldGitDir))
	return err == nil
}
