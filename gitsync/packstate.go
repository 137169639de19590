package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packStateFile lists, in the git dir, the packs the last upkeep left.
const packStateFile = "wh-gitd-packs"

// packState is the set of packs the last upkeep left (maintain), and how
// many packs a shallow copy's last check for superseded packs left.
type packState struct {
	names   []string // sorted
	checked int
}

// readPackState reads what the last upkeep left in gitDir; empty if
// unknown.
func readPackState(gitDir string) packState {
	b, err := os.ReadFile(filepath.Join(gitDir, packStateFile))
	if err != nil {
		return packState{}
	}
	var ps packState
	names := strings.Fields(string(b))
	if len(names) >= 2 && names[0] == "checked" {
		ps.checked, _ = strconv.Atoi(names[1])
		names = names[2:]
	}
	slices.Sort(names)
	ps.names = names
	return ps
}

// same reports whether packs are exactly the packs the last upkeep left.
func (ps packState) same(packs []plumbing.Hash) bool {
	if ps.names == nil || len(packs) != len(ps.names) {
		return false
	}
	for _, p := range packs {
		if _, found := slices.BinarySearch(ps.names, p.String()); !found {
			return false
		}
	}
	return true
}

// writePackState records the packs upkeep leaves, and with checked the
// count left by this upkeep's check for superseded packs, else last's. It
// is a hint: without it, or with a stale one, the next upkeep does its
// checks.
func writePackState(wc *workingCopy, pos storer.PackedObjectStorer, last packState, checked bool) {
	packs, err := pos.ObjectPacks()
	if err != nil {
		return
	}
	if checked {
		last.checked = len(packs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d\n", last.checked)
	for _, p := range packs {
		b.WriteString(p.String() + "\n")
	}
	_ = os.WriteFile(filepath.Join(wc.gitDir, packStateFile), []byte(b.String()), 0o644)
}

// packsChanged reports, from the git dir's files alone, whether upkeep has
// anything to look at: what a failed pack write left, or packs other than
// those the last upkeep left (as go-git lists them: pack-<hash>.pack).
// When it has not, upkeep after a sync that fetched nothing opens nothing
// and writes nothing, not even the syncing marker.
func packsChanged(gitDir string) bool {
	entries, err := os.ReadDir(filepath.Join(gitDir, "objects", "pack"))
	if err != nil {
		return true
	}
	var packs []plumbing.Hash
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "tmp_pack_") {
			return true
		}
		if strings.HasPrefix(n, "pack-") && strings.HasSuffix(n, ".pack") {
			if h := plumbing.NewHash(n[5 : len(n)-5]); !h.IsZero() {
				packs = append(packs, h)
			}
		}
	}
	return !readPackState(gitDir).same(packs)
}

// removeTempPacks deletes the temporary files of pack writes that failed
// (go-git's pack writer leaves its tmp_pack_* behind when the pack does
// not parse). Upkeep holds the working copy's lock, so no write is under
// way; it returns how many it removed.
func removeTempPacks(wc *workingCopy) int {
	dir := filepath.Join(wc.gitDir, "objects", "pack")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp_pack_") && os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}
