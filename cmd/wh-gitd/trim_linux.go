package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// giveBackCode asks the kernel to reclaim the pages of this program's
// code and read-only data that are resident now (MADV_PAGEOUT, Linux 5.4
// and later). Called once the daemon is ready, it gives back what only
// starting used: every linked package's initialisation, reading the
// settings, opening the store; called when the daemon has gone idle after
// jobs (trimWhenIdle), what the syncs used. What serving uses comes back
// on its first use, from the page cache when it is still there. The
// kernel leaves alone pages another process maps too. It changes nothing
// else, so an error (an older kernel) is ignored.
func giveBackCode() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	for _, s := range codeSpans(f, exe) {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_PAGEOUT)
	}
}

// span is a mapping's address range.
type span struct{ start, end uintptr }

// codeSpans lists the mappings of file exe that are not writable, from a
// /proc/PID/maps listing.
func codeSpans(maps io.Reader, exe string) []span {
	var out []span
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// address perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[5] != exe || len(f[1]) < 2 || f[1][1] == 'w' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if ok && err1 == nil && err2 == nil && end > start {
			out = append(out, span{uintptr(start), uintptr(end)})
		}
	}
	return out
}
