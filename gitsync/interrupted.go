package gitsync

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// syncingMarker exists in .git while a sync runs. Found at the start of a
// sync, it means the last one was killed part-way (a crash, kill -9, a
// reboot), which can leave go-git's object store or refs inconsistent: a
// ref file rewritten in place and cut short, refs ahead of the objects. A
// sync that fails without being killed settles what it did and removes it.
const syncingMarker = "wh-gitd-syncing"

// markSyncing creates the marker; done removes it once the sync settled.
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

// opened says how openForSync found the working copy.
type opened struct {
	// created: the folder had no .git, this sync made it (a first clone).
	created bool
	// previous is the HEAD of the .git a repair replaced, if it was known.
	previous string
}

// openForSync opens the working copy, first repairing it when its last
// sync, upkeep or repair was killed part-way: .git is moved aside (one
// rename, so a kill leaves either the old or no .git, never half of one),
// made anew and fetched, while the working copy's files stay. The old
// index (or else the old HEAD's file list) is kept as the checkout's
// baseline, so files the target commit deletes are removed and untracked
// files survive as in any sync. The remote holds everything .git held, but
// for commits made by hand in the working copy, which a deploy working copy
// should not have.
func (s *Syncer) openForSync(t Target, rem *remote, jl *jobLog) (*workingCopy, opened, error) {
	switch {
	case repairWasInterrupted(t.Path):
		jl.printf("a repair of %s was interrupted; making its repository again", t.Path)
		return s.remake(t, rem, jl)
	case wasInterrupted(t.Path):
		// Checked before opening: a kill while go-git rewrote HEAD in place
		// leaves a .git that does not even open.
		return s.repair(t, rem, jl)
	}
	dropOldGitDir(t.Path)
	wc, created, err := s.open(t, rem, jl)
	if err != nil {
		return nil, opened{}, err
	}
	if _, err := os.Stat(filepath.Join(wc.gitDir, syncingMarker)); err == nil {
		gitDir := wc.gitDir
		_ = wc.close()
		return nil, opened{}, fmt.Errorf("repair %s: its last sync was interrupted and its git dir %s "+
			"is not %s/.git; repair it by hand", t.Path, gitDir, t.Path)
	}
	return wc, opened{created: created}, nil
}

// wasInterrupted reports whether path/.git holds the marker of a sync that
// did not finish.
func wasInterrupted(path string) bool {
	_, err := os.Stat(filepath.Join(path, git.GitDirName, syncingMarker))
	return err == nil
}

// repair moves path/.git aside and makes the repository again.
func (s *Syncer) repair(t Target, rem *remote, jl *jobLog) (*workingCopy, opened, error) {
	jl.printf("the last sync of %s was interrupted; fetching its repository again (the files stay)", t.Path)
	jl.logger.Warn().Str("path", t.Path).Msg("repairing a working copy whose last sync was interrupted")
	old := filepath.Join(t.Path, oldGitDir)
	if err := os.RemoveAll(old); err != nil {
		return nil, opened{}, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	if err := os.Rename(filepath.Join(t.Path, git.GitDirName), old); err != nil {
		return nil, opened{}, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	return s.remake(t, rem, jl)
}

// remake makes a new .git at t.Path holding the baseline of the one a
// repair moved aside, then drops that one and opens the new one. Until the
// old one is dropped, a kill leaves it for the next sync to remake again.
func (s *Syncer) remake(t Target, rem *remote, jl *jobLog) (*workingCopy, opened, error) {
	gitDir := filepath.Join(t.Path, git.GitDirName)
	if err := os.RemoveAll(gitDir); err != nil {
		return nil, opened{}, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	repo, err := initRepo(t.Path, rem, jl)
	if err != nil {
		return nil, opened{}, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	_ = newWorkingCopy(t.Path, repo).close()
	old := filepath.Join(t.Path, oldGitDir)
	op := opened{previous: carryBaseline(old, gitDir, jl)}
	// Renamed first: a kill while it is deleted must not leave half of it
	// where the next sync would take it for a .git to remake from.
	if err := os.Rename(old, filepath.Join(t.Path, droppedGitDir)); err != nil {
		return nil, opened{}, fmt.Errorf("repair %s: %w", t.Path, err)
	}
	dropOldGitDir(t.Path)
	wc, _, err := s.open(t, rem, jl)
	return wc, op, err
}

// droppedGitDir is where a repair puts the old .git it is deleting.
const droppedGitDir = ".git.wh-gitd-dropped"

// dropOldGitDir deletes what a repair left to delete, if anything.
func dropOldGitDir(path string) {
	_ = os.RemoveAll(filepath.Join(path, droppedGitDir))
}

// repairWasInterrupted reports whether a repair left its moved-aside .git.
func repairWasInterrupted(path string) bool {
	_, err := os.Stat(filepath.Join(path, oldGitDir))
	return err == nil
}

// carryBaseline gives the new .git at gitDir the old one's record of the
// files on disk: its index, copied as it is, or else an index listing its
// HEAD's files without stat data (each is hashed once). It returns the old
// HEAD's commit, or "" when that is unknown.
func carryBaseline(old, gitDir string, jl *jobLog) string {
	prev, leaves := oldHead(old)
	if copyIndex(filepath.Join(old, "index"), filepath.Join(gitDir, "index")) == nil {
		return prev
	}
	if leaves == nil {
		jl.printf("the old index and HEAD are unreadable: files the commit deletes may stay as untracked files")
		return prev
	}
	entries := make(map[string]*index.Entry, len(leaves))
	for p, l := range leaves {
		entries[p] = newEntry(p, l, nil)
	}
	lock, err := lockIndex(gitDir)
	if err == nil {
		err = lock.commit(entries, nil)
	}
	if err != nil {
		jl.printf("could not keep the old HEAD's file list (%v): files the commit deletes may stay", err)
	}
	return prev
}

// oldHead reads the HEAD commit of the .git at dir and its files, as far as
// they can be read.
func oldHead(dir string) (string, map[string]leaf) {
	st := newStorage(osfs.New(dir))
	defer st.Close()
	repo, err := git.Open(st, nil)
	if err != nil {
		return "", nil
	}
	head, err := repo.Head()
	if err != nil {
		return "", nil
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return head.Hash().String(), nil
	}
	leaves, err := flattenTree(repo.Storer, c.TreeHash)
	if err != nil {
		return head.Hash().String(), nil
	}
	return head.Hash().String(), leaves
}

// copyIndex copies the index file from to to, with its modification time
// (the racy-clean check compares file times with it), if it can be read.
func copyIndex(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if err := index.NewDecoder(bytes.NewReader(b)).Decode(&index.Index{}); err != nil {
		return err
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return err
	}
	return os.Chtimes(to, fi.ModTime(), fi.ModTime())
}

// settleFetch undoes what a failed fetch left half-done, so that the
// working copy needs no repair: temporary pack files are removed and the
// shallow list is fixed (go-git writes it before the pack). It reports
// false when the refs or the shallow list cannot be read back.
func settleFetch(wc *workingCopy, jl *jobLog) bool {
	tmp, _ := filepath.Glob(filepath.Join(wc.gitDir, "objects", "pack", "tmp_*"))
	for _, p := range tmp {
		_ = os.Remove(p)
	}
	if err := fixShallow(wc); err != nil {
		jl.printf("after the failed fetch: update shallow list: %v", err)
		return false
	}
	refs, err := wc.repo.Storer.IterReferences()
	if err == nil {
		err = refs.ForEach(func(*plumbing.Reference) error { return nil })
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		jl.printf("after the failed fetch: read refs: %v", err)
		return false
	}
	return true
}
