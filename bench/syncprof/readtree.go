package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// readTree reads every blob of HEAD's tree of the working copy at path, as
// a checkout does, through go-git storage opened either as gitsync opens it
// (git.PlainOpen: a pack file opened again for every object, a 96 MiB
// object cache) or with KeepDescriptors and a cache of cacheMiB, and prints
// the time and the allocations it took: the experiment behind the memory
// paragraph of BENCHMARKS.md.
func readTree(path string, keep bool, cacheMiB int) error {
	repo, err := git.PlainOpen(path)
	if err != nil {
		return err
	}
	if keep || cacheMiB > 0 {
		// The same folders, through storage opened with other options.
		plain, ok := repo.Storer.(*filesystem.Storage)
		wt, err := repo.Worktree()
		if !ok || err != nil {
			return fmt.Errorf("unexpected storage %T (%v)", repo.Storer, err)
		}
		lru := cache.NewObjectLRUDefault()
		if cacheMiB > 0 {
			lru = cache.NewObjectLRU(cache.FileSize(cacheMiB) * cache.MiByte)
		}
		st := filesystem.NewStorageWithOptions(plain.Filesystem(), lru, filesystem.Options{KeepDescriptors: keep})
		defer st.Close()
		if repo, err = git.Open(st, wt.Filesystem); err != nil {
			return err
		}
	}
	tree, err := headTree(repo)
	if err != nil {
		return err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	n, size := 0, int64(0)
	err = tree.Files().ForEach(func(f *object.File) error {
		r, err := f.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		k, err := io.Copy(io.Discard, r)
		n, size = n+1, size+k
		return err
	})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	fmt.Printf("read %d blobs (%.1f MB) in %s: %.0f MB allocated, %d allocations, heap reserved %.0f MB\n",
		n, float64(size)/1e6, took.Round(time.Millisecond), float64(after.TotalAlloc-before.TotalAlloc)/1e6,
		after.Mallocs-before.Mallocs, float64(after.HeapSys)/1e6)
	return err
}

func headTree(repo *git.Repository) (*object.Tree, error) {
	head, err := repo.Head()
	if err != nil {
		return nil, err
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, err
	}
	return c.Tree()
}
