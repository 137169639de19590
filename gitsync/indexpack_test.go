package gitsync

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// indexOurs indexes the pack at path as a received pack is (scanPack, then
// a resolver with the given limit on held bases and number of goroutines)
// and returns the encoded index.
func indexOurs(t *testing.T, path string, limit int64, workers int) ([]byte, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := scanPack(f, io.Discard, nil)
	if err != nil {
		return nil, err
	}
	idx := new(idxfile.Writer)
	if err := idx.OnHeader(uint32(len(ps.entries))); err != nil {
		t.Fatal(err)
	}
	res := newResolver(ps, f, idx, limit)
	res.workers = workers
	if err := errors.Join(res.resolveFrom(0), res.complete()); err != nil {
		return nil, err
	}
	if err := idx.OnFooter(ps.sum); err != nil {
		t.Fatal(err)
	}
	mi, err := idx.Index()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := idxfile.NewEncoder(&out).Encode(mi); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), nil
}

// packOf has git write every object of up into one pack with pack-objects'
// extra arguments, and returns the pack's path (git's index beside it).
func packOf(t *testing.T, up *gitsynctest.Upstream, args ...string) string {
	t.Helper()
	objs := up.Git(t, "rev-list", "--objects", "--all")
	prefix := filepath.Join(t.TempDir(), "p")
	out := up.GitInput(t, objs, append([]string{"pack-objects", "-q"}, append(args, prefix)...)...)
	return prefix + "-" + strings.TrimSpace(out) + ".pack"
}

// TestIndexPackAsGit compares our index of packs git wrote with git's own,
// byte for byte, resolving on one goroutine and on four: a long chain of
// one file, and a wide history whose many files each have their own
// chains, so that the goroutines walk different whole objects at once
// (and, for deltas by hash, take their bases' deltas from one shared map).
func TestIndexPackAsGit(t *testing.T) {
	t.Parallel()
	long := gitsynctest.NewUpstream(t)
	deltaChain(t, long)
	long.Commit(t, "main", map[string]string{"empty.txt": "", "moved/big.txt": bigText(7, 3000)}, "empty and moved")
	wide := gitsynctest.NewUpstream(t)
	files := map[string]string{}
	for v := range 12 {
		for i := range 30 {
			files[fmt.Sprintf("d%d/f%02d.txt", i%3, i)] = edit(bigText(uint64(i), 300), v*20, fmt.Sprint("v", v))
		}
		wide.Commit(t, "main", files, fmt.Sprint("version ", v))
	}
	tests := []struct {
		name  string
		up    *gitsynctest.Upstream
		args  []string
		limit int64
	}{
		{"offset deltas, 200 deep", long, []string{"--delta-base-offset", "--depth=200", "--window=250"}, heldLimit},
		{"deltas by hash", long, []string{"--depth=200", "--window=250"}, heldLimit},
		{"offset deltas, every base made again", long, []string{"--delta-base-offset", "--depth=200", "--window=250"}, 1},
		{"deltas by hash, every base made again", long, []string{"--depth=200", "--window=250"}, 1},
		{"no deltas", long, []string{"--depth=0"}, heldLimit},
		{"wide, offset deltas", wide, []string{"--delta-base-offset"}, heldLimit},
		{"wide, deltas by hash", wide, nil, heldLimit},
		{"wide, deltas by hash, every base made again", wide, nil, 1},
	}
	for _, tt := range tests {
		pack := packOf(t, tt.up, tt.args...)
		want, err := os.ReadFile(strings.TrimSuffix(pack, ".pack") + ".idx")
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s, %d goroutines", tt.name, workers), func(t *testing.T) {
				got, err := indexOurs(t, pack, tt.limit, workers)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("index differs from git's: %d bytes, git's %d", len(got), len(want))
				}
			})
		}
	}
	if n := strings.Count(wide.Git(t, "rev-list", "--objects", "--all"), "\n"); n < resolveAlone {
		t.Errorf("the wide history has %d objects: too few to be resolved by several goroutines", n)
	}
}

func TestStorePack(t *testing.T) {
	t.Parallel()
	up := gitsynctest.NewUpstream(t)
	first := up.Commit(t, "main", bigTree(), "first")
	clone := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "wc")
		if out, err := exec.Command("git", "clone", "-q", "--no-local", up.Path(), dir).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v: %s", err, out)
		}
		return dir
	}
	base, empty := clone(t), t.TempDir()
	if out, err := exec.Command("git", "init", "-q", empty).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	_, second := edits(t, up)
	thin := up.GitInput(t, second+"\n^"+first+"\n", "pack-objects", "-q", "--revs", "--thin", "--stdout", "--delta-base-offset")
	corrupt := []byte(thin)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name    string
		into    string
		pack    string
		thin    bool
		wantErr string
	}{
		{"thin, bases here", base, thin, true, ""},
		{"thin, not asked for", base, thin, false, "delta base not found in the pack"},
		{"thin, bases not here", empty, thin, true, "is neither in the pack nor here"},
		{"corrupt", base, string(corrupt), true, "store pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wc")
			if out, err := exec.Command("cp", "-a", tt.into, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			before := packGlob(t, dir, "*")
			wc, _, _ := openPacks(t, dir)
			err := storePack(wc, strings.NewReader(tt.pack), tt.thin)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("storePack: %v, want an error with %q", err, tt.wantErr)
				}
				if after := packGlob(t, dir, "*"); !slices.Equal(after, before) {
					t.Fatalf("pack folder %v, was %v", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wc.st.EncodedObject(plumbing.CommitObject, plumbing.NewHash(second)); err != nil {
				t.Fatalf("the stored commit: %v", err)
			}
			assertGit(t, dir, "", "fsck", "--full", "--no-dangling", "--strict")
		})
	}
}

// handPack is a pack of the given raw entries (each its header and data),
// with the count and checksum it says.
func handPack(count uint32, entries ...[]byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte("PACK\x00\x00\x00\x02"), count)
	for _, e := range entries {
		b = append(b, e...)
	}
	sum := sha1.Sum(b)
	return append(b, sum[:]...)
}

// blobEntry is a whole blob entry declaring size bytes, holding content.
func blobEntry(size int64, content string) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(content))
	zw.Close()
	return append(entryHeader(plumbing.BlobObject, size), z.Bytes()...)
}

func TestScanPackRefusesDamage(t *testing.T) {
	t.Parallel()
	good := handPack(1, blobEntry(5, "hello"))
	tests := []struct {
		name, want string
		pack       []byte
	}{
		{"truncated in the entry", "unexpected EOF", good[:len(good)/2]},
		{"truncated in the checksum", "checksum", good[:len(good)-3]},
		{"not a pack", "not a pack", append([]byte("KCAP"), good[4:]...)},
		{"version 4", "not a pack", append([]byte("PACK\x00\x00\x00\x04"), good[8:]...)},
		{"damaged checksum", "checksum mismatch", append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1)},
		{"data after the checksum", "data after the checksum", append(slices.Clone(good), 0)},
		{"inflates to more than declared", "inflates to more or less", handPack(1, blobEntry(4, "hello"))},
		{"inflates to less than declared", "inflates to more or less", handPack(1, blobEntry(6, "hello"))},
		{"more entries said than held", "read entry at", handPack(2, blobEntry(5, "hello"))},
		{"offset delta before the pack", "points outside the pack", handPack(1, append(entryHeader(plumbing.OFSDeltaObject, 4), 0x7f))},
		{"offset delta to no entry", "names no entry", handPack(2, blobEntry(5, "hello"), append(entryHeader(plumbing.OFSDeltaObject, 4), 1))},
		{"type 5", "has type 5", handPack(1, append(entryHeader(plumbing.ObjectType(5), 5), blobEntry(5, "hello")[1:]...))},
		{"size past 64 bits", "size too large", handPack(1, append([]byte{0xbf}, bytes.Repeat([]byte{0xff}, 9)...))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanPack(bytes.NewReader(tt.pack), io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("scanPack: %v, want an error with %q", err, tt.want)
			}
		})
	}
	ps, err := scanPack(bytes.NewReader(good), io.Discard, nil)
	if err != nil || len(ps.entries) != 1 || ps.entries[0].hash.String() != "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0" {
		t.Fatalf("the good pack: %v, %+v", err, ps)
	}
}

// FuzzIndexPack feeds anything to both reads of a pack: they may refuse
// it, never panic, and what they accept indexes every entry.
func FuzzIndexPack(f *testing.F) {
	f.Add(handPack(1, blobEntry(5, "hello")))
	f.Add(handPack(2, blobEntry(5, "hello"), append(entryHeader(plumbing.OFSDeltaObject, 7), append([]byte{0x1f}, 0x05, 0x06, 0x90, 0x05, 0x01, '!')...)))
	f.Fuzz(func(t *testing.T, pack []byte) {
		path := filepath.Join(t.TempDir(), "p.pack")
		if err := os.WriteFile(path, pack, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := indexOurs(t, path, 64, resolveWorkers); err == nil && len(got) == 0 {
			t.Fatal("an accepted pack without an index")
		}
	})
}

// stutterReader returns nothing, and no error, before every byte it
// gives, as a reader may now and then.
type stutterReader struct {
	r    io.Reader
	last bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.last = !s.last; s.last {
		return 0, nil
	}
	return s.r.Read(p[:1])
}

func TestScanPackReadsAStutteringStream(t *testing.T) {
	t.Parallel()
	pack := handPack(2, blobEntry(5, "hello"), blobEntry(6, "world!"))
	var copied bytes.Buffer
	ps, err := scanPack(&stutterReader{r: bytes.NewReader(pack)}, &copied, nil)
	if err != nil || len(ps.entries) != 2 {
		t.Fatalf("scanPack: %v, %+v", err, ps)
	}
	if !bytes.Equal(copied.Bytes(), pack) {
		t.Fatal("the copy differs from the pack")
	}
}
