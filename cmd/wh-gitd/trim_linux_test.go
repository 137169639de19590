package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCodeSpans(t *testing.T) {
	const maps = `00400000-00a00000 r-xp 00000000 fd:01 1234 /usr/bin/wh-gitd
00a00000-00c00000 r--p 00600000 fd:01 1234 /usr/bin/wh-gitd
00c00000-00c10000 rw-p 00800000 fd:01 1234 /usr/bin/wh-gitd
00c10000-00c20000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r-xp 00000000 fd:01 99 /usr/bin/wh-gitd-other
7f0000001000-7f0000002000 r--p 00000000 fd:01 1234 /usr/bin/wh-gitd (deleted)
zz-00400000 r-xp 00000000 fd:01 1234 /usr/bin/wh-gitd
`
	got := codeSpans(strings.NewReader(maps), "/usr/bin/wh-gitd")
	want := []span{{0x400000, 0xa00000}, {0xa00000, 0xc00000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("codeSpans = %x, want %x", got, want)
	}
}

// rssFile is this process's resident file-backed memory, in kB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestGiveBackCode checks that this test program's own code pages
// are reclaimed: no other process maps its binary.
func TestGiveBackCode(t *testing.T) {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, 0, 0, unix.MADV_PAGEOUT); errno != 0 {
		t.Skipf("this kernel has no MADV_PAGEOUT: %v", errno)
	}
	before := rssFile(t)
	giveBackCode()
	after := rssFile(t)
	if after >= before/2 {
		t.Fatalf("resident file-backed memory %d kB before, %d kB after: not given back", before, after)
	}
	t.Logf("resident file-backed memory %d kB before, %d kB after", before, after)
}
