package gitsync

import (
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// fillStat copies the stat data git keeps in the index.
func fillStat(e *index.Entry, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	e.CreatedAt = time.Unix(st.Ctim.Unix())
	e.Dev = uint32(st.Dev)
	e.Inode = uint32(st.Ino)
	e.UID = st.Uid
	e.GID = st.Gid
}

// sameInode compares what fillStat recorded with fi (zero means unknown).
func sameInode(e *index.Entry, fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || e.Inode == 0 {
		return true
	}
	ctime := time.Unix(st.Ctim.Unix())
	return e.Inode == uint32(st.Ino) && (e.CreatedAt.IsZero() || e.CreatedAt.Equal(ctime))
}

// owner is the uid that owns path, -1 if unknown.
func owner(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1
	}
	return int(st.Uid)
}
