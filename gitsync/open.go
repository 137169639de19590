package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

const originName = "origin"

// workingCopy is an opened repository with its worktree.
type workingCopy struct {
	path   string // the worktree
	gitDir string // usually path/.git
	repo   *git.Repository
}

// open opens the working copy at t.Path, creating it (git init) when the
// path is missing or empty, and points origin at the remote.
func (s *Syncer) open(t Target, rem *remote, jl *jobLog) (*workingCopy, error) {
	parent := filepath.Dir(t.Path)
	if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open working copy %s: parent directory %s does not exist", t.Path, parent)
	}
	repo, err := openOrInit(t.Path, rem, jl)
	if err != nil {
		return nil, fmt.Errorf("open working copy %s: %w", t.Path, err)
	}
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("open working copy %s: unexpected storage %T", t.Path, repo.Storer)
	}
	wc := &workingCopy{path: t.Path, gitDir: st.Filesystem().Root(), repo: repo}
	if err := ensureOrigin(repo, rem.url, jl); err != nil {
		return nil, fmt.Errorf("set origin of %s: %w", t.Path, err)
	}
	return wc, nil
}

func openOrInit(path string, rem *remote, jl *jobLog) (*git.Repository, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(path, 0o755); err != nil {
			return nil, err
		}
		return initRepo(path, rem, jl)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, errors.New("exists and is not a directory")
	}
	repo, err := git.PlainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		empty, err := isEmptyDir(path)
		if err != nil {
			return nil, err
		}
		if !empty {
			return nil, errors.New("exists, is not empty and is not a git working copy; " +
				"refusing to touch it (move it away or empty it)")
		}
		return initRepo(path, rem, jl)
	}
	if err != nil {
		return nil, err
	}
	if cfg, err := repo.Config(); err == nil && cfg.Core.IsBare {
		return nil, errors.New("is a bare repository, not a working copy")
	}
	return repo, nil
}

func initRepo(path string, rem *remote, jl *jobLog) (*git.Repository, error) {
	jl.printf("clone %s into %s", rem.url, path)
	return git.PlainInit(path, false)
}

func isEmptyDir(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// ensureOrigin makes origin point at url: only the configured remote is
// ever fetched, whatever the working copy had before.
func ensureOrigin(repo *git.Repository, url string, jl *jobLog) error {
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	rc, ok := cfg.Remotes[originName]
	if ok && len(rc.URLs) == 1 && rc.URLs[0] == url {
		return nil
	}
	if ok && len(rc.URLs) > 0 {
		jl.printf("set origin to %s (was %s)", url, redactURL(rc.URLs[0]))
	}
	cfg.Remotes[originName] = &config.RemoteConfig{
		Name:  originName,
		URLs:  []string{url},
		Fetch: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
	}
	return repo.SetConfig(cfg)
}

// headCommit is the commit HEAD resolves to, or the zero hash.
func (wc *workingCopy) headCommit() plumbing.Hash {
	ref, err := wc.repo.Head()
	if err != nil {
		return plumbing.ZeroHash
	}
	if _, err := wc.repo.CommitObject(ref.Hash()); err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// waitIndexLock waits for a .git/index.lock held by another git process to
// go away, and removes one older than s.staleLock: a process that was killed
// while holding it would otherwise wedge every later sync.
func (s *Syncer) waitIndexLock(ctx context.Context, wc *workingCopy, jl *jobLog) error {
	lock := filepath.Join(wc.gitDir, "index.lock")
	for {
		fi, err := os.Lstat(lock)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", lock, err)
		}
		if age := time.Since(fi.ModTime()); age >= s.staleLock {
			if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale %s: %w", lock, err)
			}
			jl.printf("removed stale .git/index.lock (%s old, left by a git process that died)",
				age.Round(time.Second))
			jl.logger.Warn().Str("path", wc.path).Dur("age", age).Msg("removed stale index.lock")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s held by another git process: %w", lock, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setHead points HEAD at the local branch of ref (created or moved to
// commit), or detaches it at commit for a tag.
func setHead(wc *workingCopy, ref string, commit plumbing.Hash) error {
	name := plumbing.ReferenceName(ref)
	st := wc.repo.Storer
	if !name.IsBranch() {
		if err := st.SetReference(plumbing.NewHashReference(plumbing.HEAD, commit)); err != nil {
			return fmt.Errorf("set HEAD to %s: %w", short(commit), err)
		}
		return nil
	}
	if err := st.SetReference(plumbing.NewHashReference(name, commit)); err != nil {
		return fmt.Errorf("set %s to %s: %w", name, short(commit), err)
	}
	if err := st.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, name)); err != nil {
		return fmt.Errorf("set HEAD to %s: %w", name, err)
	}
	return nil
}
