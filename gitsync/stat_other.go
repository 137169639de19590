//go:build !linux

package gitsync

import (
	"io/fs"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// fillStat records nothing beyond size and mtime on this platform.
func fillStat(e *index.Entry, fi fs.FileInfo) {}

// sameInode cannot tell on this platform.
func sameInode(e *index.Entry, fi fs.FileInfo) bool { return true }

// owner is unknown here (-1): local-path remotes are left to git.
func owner(string) int { return -1 }
