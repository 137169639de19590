package gitsync

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// packedRepo makes a repository of packedFiles(seed) in one pack and
// returns the pack's path without its extension.
func packedRepo(t testing.TB, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	testkit.Git(t, dir, "init", "-q")
	for _, f := range packedFiles(seed) {
		if f.Content == "" || f.Path == "link" {
			continue
		}
		testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(f.Path)), f.Content)
	}
	commitAll(t, dir)
	testkit.Git(t, dir, "repack", "-a", "-d", "-q")
	idx, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "pack-*.idx"))
	if len(idx) != 1 {
		t.Fatalf("%d pack indexes after repack", len(idx))
	}
	return strings.TrimSuffix(idx[0], ".idx")
}

// gitIndex decodes the index at path with go-git.
func gitIndex(t *testing.T, path string) *idxfile.MemoryIndex {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(bytes.NewReader(b)).Decode(idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// TestPackIndexFindsWhatGitIndexed: every object of an index git wrote is
// found at the offset go-git's decoder reads for it, with offsets in the
// 32-bit table and, in an index git wrote again with every offset past
// 256 in the 64-bit table, in that one; objects the pack does not hold
// are not found.
func TestPackIndexFindsWhatGitIndexed(t *testing.T) {
	t.Parallel()
	base := packedRepo(t, 8)
	wide := filepath.Join(t.TempDir(), "wide.idx")
	testkit.Git(t, filepath.Dir(base), "index-pack", "--index-version=2,0x100", "-o", wide, base+".pack")
	for _, path := range []string{base + ".idx", wide} {
		x, err := openPackIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		want := gitIndex(t, path)
		n, _ := want.Count()
		if x.count != int(n) || n < 300 {
			t.Errorf("%s: %d objects, go-git reads %d", filepath.Base(path), x.count, n)
		}
		if wide := path != base+".idx"; wide != (len(x.off64) > 0) {
			t.Errorf("%s: %d bytes of 64-bit offsets", filepath.Base(path), len(x.off64))
		}
		iter, err := want.Entries()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for {
			e, err := iter.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen++
			if off, ok := x.find(e.Hash); !ok || off != int64(e.Offset) {
				t.Errorf("%s: %s at %d (%v), go-git reads %d", filepath.Base(path), e.Hash, off, ok, e.Offset)
			}
			missing := e.Hash
			missing[hashLen-1] ^= 0x01
			if _, err := want.FindOffset(missing); err != nil {
				if off, ok := x.find(missing); ok {
					t.Errorf("%s: %s, not in the pack, found at %d", filepath.Base(path), missing, off)
				}
			}
		}
		if seen != int(n) {
			t.Errorf("%d entries iterated of %d", seen, n)
		}
		for _, h := range []plumbing.Hash{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
			if _, ok := x.find(h); ok {
				t.Errorf("%s found", h)
			}
		}
		if err := x.close(); err != nil {
			t.Error(err)
		}
	}
}

// TestPackIndexRefusesDamage: a changed byte anywhere, a cut, another
// version or a fan-out table that decreases is refused with an error.
func TestPackIndexRefusesDamage(t *testing.T) {
	t.Parallel()
	good, err := os.ReadFile(packedRepo(t, 9) + ".idx")
	if err != nil {
		t.Fatal(err)
	}
	resum := func(b []byte) []byte {
		sum := sha1.Sum(b[:len(b)-hashLen])
		copy(b[len(b)-hashLen:], sum[:])
		return b
	}
	cases := map[string][]byte{
		"a name changed":   func() []byte { b := bytes.Clone(good); b[packIndexTables+5] ^= 0x10; return b }(),
		"an offset cut":    resum(append(bytes.Clone(good[:len(good)-2*hashLen-4]), good[len(good)-2*hashLen:]...)),
		"cut short":        good[:len(good)-1],
		"version 3":        resum(func() []byte { b := bytes.Clone(good); b[7] = 3; return b }()),
		"fan-out decrease": resum(func() []byte { b := bytes.Clone(good); b[8+4*10+1] = 0xff; return b }()),
		"empty":            nil,
	}
	for name, b := range cases {
		if _, err := parsePackIndex(b); !errors.Is(err, errPackIndex) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := parsePackIndex(good); err != nil {
		t.Fatalf("the undamaged index: %v", err)
	}
}

// FuzzPackIndex: whatever index parsePackIndex takes, go-git's decoder
// takes too, and each name in it is found at the offset go-git finds. The
// input is an index without its checksum, which is computed here.
func FuzzPackIndex(f *testing.F) {
	good, err := os.ReadFile(packedRepo(f, 10) + ".idx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:len(good)-hashLen])
	empty := append(bytes.Clone(packIndexMagic), make([]byte, packIndexFanout+hashLen)...)
	f.Add(empty)
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha1.Sum(body)
		data := append(bytes.Clone(body), sum[:]...)
		x, err := parsePackIndex(data)
		if err != nil {
			return
		}
		want := idxfile.NewMemoryIndex()
		if err := idxfile.NewDecoder(bytes.NewReader(data)).Decode(want); err != nil {
			t.Fatalf("taken here, but go-git says: %v", err)
		}
		for i := range x.count {
			h := plumbing.Hash(x.names[i*hashLen : (i+1)*hashLen])
			off, ok := x.find(h)
			wantOff, err := want.FindOffset(h)
			if ok != (err == nil && wantOff >= 0) || (ok && off != wantOff) {
				t.Fatalf("%s at %d (%v), go-git: %d (%v)", h, off, ok, wantOff, err)
			}
		}
	})
}

// TestPackIndexCutShortUnderItsMapping: a pack index cut short after it was
// opened finds nothing, instead of a fault that ends the process.
func TestPackIndexCutShortUnderItsMapping(t *testing.T) {
	t.Parallel()
	path := packedRepo(t, 12) + ".idx"
	x, err := openPackIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	h := plumbing.Hash(x.names[(x.count-1)*hashLen : x.count*hashLen])
	if _, ok := x.find(h); !ok {
		t.Fatal("the last object is not found")
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if off, ok := x.find(h); ok {
		t.Fatalf("found at %d in an index cut short", off)
	}
}
