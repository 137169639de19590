package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMergeKeepsLargestPack checks that merging the packs of a full-history
// working copy leaves the largest pack (the first clone's) untouched.
func TestMergeKeepsLargestPack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.compactPacks = 4
	tg := f.target()
	tg.Depth = 0
	big := make(map[string]string)
	for i := range 300 {
		big[fmt.Sprintf("d%d/f%03d", i%5, i)] = strings.Repeat(fmt.Sprint(i), 50)
	}
	f.up.Commit(t, "main", big, "big")
	f.sync(t, tg)
	base := packFiles(t, f.path)
	if len(base) != 1 {
		t.Fatalf("after clone: %d packs, want 1", len(base))
	}
	baseInfo, err := os.Stat(base[0])
	if err != nil {
		t.Fatal(err)
	}
	merged := false
	for i := 1; i <= 3; i++ {
		f.up.Commit(t, "main", map[string]string{"small": fmt.Sprint(i)}, "small")
		_, log := f.sync(t, tg)
		merged = merged || strings.Contains(log, "merged 3 packs into one")
	}
	if !merged {
		t.Fatal("no merge happened")
	}
	packs := packFiles(t, f.path)
	if len(packs) != 2 {
		t.Errorf("after merge: %d packs, want 2: %v", len(packs), packs)
	}
	fi, err := os.Stat(base[0])
	if err != nil {
		t.Fatalf("largest pack is gone: %v", err)
	}
	if fi.Size() != baseInfo.Size() || !fi.ModTime().Equal(baseInfo.ModTime()) {
		t.Errorf("largest pack changed: %d bytes at %s, was %d at %s",
			fi.Size(), fi.ModTime(), baseInfo.Size(), baseInfo.ModTime())
	}
	gitCLI(t, f.path, "fsck", "--no-progress", "--no-dangling")
	assertClean(t, f.path, f.up.Head(t, "main"))
}

func packFiles(t *testing.T, wc string) []string {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(wc, ".git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return packs
}

// TestNoDescriptorLeak checks that the pack files a sync keeps open are
// closed when it ends. Not parallel: it counts the process's descriptors.
func TestNoDescriptorLeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	f := newFixture(t)
	f.s.compactPacks = 5
	tg := f.target()
	tg.Depth = 0
	f.up.Commit(t, "main", map[string]string{"a": "0"}, "c0")
	f.sync(t, tg) // warm up: the runtime opens some descriptors once
	before := openFDs(t)
	for i := 1; i <= 20; i++ {
		f.up.Commit(t, "main", map[string]string{"a": fmt.Sprint(i)}, "next")
		f.sync(t, tg)
	}
	deadline := time.Now().Add(5 * time.Second)
	after := openFDs(t)
	for after > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // a child's pipes may close late
		after = openFDs(t)
	}
	if after > before {
		t.Errorf("open descriptors: %d before 20 syncs, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
