package gitsync

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// cleanListLimit caps the clean lines in the job log.
const cleanListLimit = 20

// clean removes everything under root that tracked does not hold, except
// .git, like `git clean -ffdx`: untracked and ignored files, directories,
// nested repositories. Submodule directories are left to their own
// repository. It returns how many paths it removed (a directory counts once).
func clean(root string, tracked map[string]*index.Entry, jl *jobLog) (int, error) {
	dirs := make(map[string]bool)
	for p := range tracked {
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var removed []string
	err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ".git" {
			return skipIfDir(d)
		}
		if e, ok := tracked[rel]; ok {
			if e.Mode == filemode.Submodule {
				return skipIfDir(d)
			}
			if !d.IsDir() {
				return nil
			}
		}
		if d.IsDir() && dirs[rel] {
			return nil
		}
		if err := os.RemoveAll(full); err != nil {
			return err
		}
		removed = append(removed, rel)
		return skipIfDir(d)
	})
	jl.listf(cleanListLimit, "clean: removed %s", removed)
	return len(removed), err
}

func skipIfDir(d fs.DirEntry) error {
	if d.IsDir() {
		return filepath.SkipDir
	}
	return nil
}
