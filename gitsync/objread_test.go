package gitsync

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// idxOpensFS counts the pack indexes opened through it.
type idxOpensFS struct {
	billy.Filesystem
	opens *int
}

func (fs idxOpensFS) Open(name string) (billy.File, error) {
	if strings.HasSuffix(name, ".idx") {
		*fs.opens++
	}
	return fs.Filesystem.Open(name)
}

// historyRepo makes a repository of three commits of packedFiles (so that
// a repack stores deltas on deltas) with a blob of 1.5 MiB, repacked with
// long delta chains, offset deltas or (ofs false) deltas naming their base,
// and one object left loose. It returns the .git folder and the loose
// object's name.
func historyRepo(t *testing.T, ofs bool) (string, plumbing.Hash) {
	t.Helper()
	dir := t.TempDir()
	testkit.Git(t, dir, "init", "-q")
	rng := rand.New(rand.NewPCG(3, 4))
	for seed := uint64(11); seed < 14; seed++ {
		for _, f := range packedFiles(seed) {
			if f.Content != "" && f.Path != "link" && (seed == 11 || !strings.HasPrefix(f.Path, "d1/")) {
				testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(f.Path)), f.Content)
			}
		}
		big := make([]byte, 3<<19)
		for i := range big {
			big[i] = byte(rng.Uint32())
		}
		testkit.WriteFile(t, filepath.Join(dir, "assets", "large.bin"), string(big))
		commitAll(t, dir)
	}
	testkit.Git(t, dir, "-c", "repack.useDeltaBaseOffset="+map[bool]string{true: "true", false: "false"}[ofs],
		"repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50")
	cmd := exec.Command("git", "-C", dir, "hash-object", "-w", "--stdin")
	cmd.Stdin = strings.NewReader("a blob kept loose\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, ".git"), plumbing.NewHash(strings.TrimSpace(string(out)))
}

// allObjects lists every object of the repository at gitDir with its type.
func allObjects(t *testing.T, gitDir string) map[plumbing.Hash]string {
	t.Helper()
	out := map[plumbing.Hash]string{}
	for _, line := range strings.Split(strings.TrimSpace(gitOut(t, gitDir, "cat-file", "--batch-all-objects",
		"--batch-check=%(objectname) %(objecttype)")), "\n") {
		name, typ, _ := strings.Cut(line, " ")
		out[plumbing.NewHash(name)] = typ
	}
	return out
}

// content reads obj whole.
func content(t *testing.T, obj plumbing.EncodedObject) []byte {
	t.Helper()
	r, err := obj.Reader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", obj.Hash(), err)
	}
	return b
}

// TestStorageReadsPackedObjectsAsGoGit reads every object of a repacked
// repository (deltas on deltas, by offset and by name; a large whole blob;
// a loose object) through the storage and through go-git's own reader:
// each reads the same, and the storage opened no pack index through
// go-git to do it. Asked for another type, or for an object that is not
// there, it answers not found.
func TestStorageReadsPackedObjectsAsGoGit(t *testing.T) {
	t.Parallel()
	for _, ofs := range []bool{true, false} {
		gitDir, loose := historyRepo(t, ofs)
		objects := allObjects(t, gitDir)
		packed := verifyPack(t, gitDir)
		chained := 0
		for _, po := range packed {
			if po.delta {
				chained++
			}
		}
		if len(objects) < 800 || chained < 300 || objects[loose] != "blob" {
			t.Fatalf("%d objects, %d deltas: the test needs more", len(objects), chained)
		}
		var opens int
		st := newStorage(idxOpensFS{osfs.New(gitDir), &opens})
		ref := newStorage(osfs.New(gitDir))
		lazy := 0
		for h, typ := range objects {
			got, err := st.EncodedObject(plumbing.AnyObject, h)
			if err != nil {
				t.Fatalf("ofs %v: %s: %v", ofs, h, err)
			}
			want, err := ref.Storage.EncodedObject(plumbing.AnyObject, h)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type() != want.Type() || got.Type().String() != typ || got.Size() != want.Size() ||
				got.Hash() != h || !bytes.Equal(content(t, got), content(t, want)) {
				t.Errorf("ofs %v: %s read as %s of %d bytes, go-git reads %s of %d", ofs, h, got.Type(), got.Size(),
					want.Type(), want.Size())
			}
			if _, ok := got.(*lazyObject); ok {
				lazy++
			}
			other := plumbing.TagObject
			if got.Type() == plumbing.TagObject {
				other = plumbing.BlobObject
			}
			if _, err := st.EncodedObject(other, h); !errors.Is(err, plumbing.ErrObjectNotFound) {
				t.Errorf("%s asked for as a %s: %v", h, other, err)
			}
			if err := st.HasEncodedObject(h); err != nil {
				t.Errorf("has %s: %v", h, err)
			}
		}
		if lazy != 3 {
			t.Errorf("%d large blobs read lazily, want 3", lazy)
		}
		missing := plumbing.NewHash(strings.Repeat("5a", 20))
		if _, err := st.EncodedObject(plumbing.AnyObject, missing); !errors.Is(err, plumbing.ErrObjectNotFound) {
			t.Errorf("missing object: %v", err)
		}
		if err := st.HasEncodedObject(missing); !errors.Is(err, plumbing.ErrObjectNotFound) {
			t.Errorf("has missing object: %v", err)
		}
		if opens != 0 {
			t.Errorf("ofs %v: %d pack indexes opened through go-git", ofs, opens)
		}
		st.Close()
		ref.Close()
	}
}

// TestStorageRefusesDamagedPackedObject: a byte changed in the data of a
// delta, or of a whole tree, makes reading the object an error, never
// another content.
func TestStorageRefusesDamagedPackedObject(t *testing.T) {
	t.Parallel()
	gitDir, _ := historyRepo(t, true)
	var delta, tree packedObject
	for _, po := range verifyPack(t, gitDir) {
		switch {
		case po.delta && po.inPack > delta.inPack:
			delta = po // the largest
		case po.typ == "tree" && !po.delta && po.inPack > 40 && tree.inPack == 0:
			tree = po
		}
	}
	if delta.inPack < 20 || tree.inPack == 0 {
		t.Fatal("no delta and whole tree to damage")
	}
	for _, po := range []packedObject{delta, tree} {
		pack, b := packFileOf(t, po)
		for _, at := range []int64{po.off + po.inPack/2, po.off + po.inPack - 2} {
			saved := b[at]
			b[at] ^= 0x21
			if err := os.WriteFile(pack, b, 0o644); err != nil {
				t.Fatal(err)
			}
			st := newStorage(osfs.New(gitDir))
			if obj, err := st.EncodedObject(plumbing.AnyObject, po.hash); err == nil {
				t.Errorf("%s %s damaged at +%d read as %d bytes", po.typ, po.hash, at-po.off, obj.Size())
			}
			st.Close()
			b[at] = saved
		}
		if err := os.WriteFile(pack, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStorageRefusesAnIndexThatMisnames: an index whose offsets of two
// objects were swapped (its checksum made to match) makes reading either
// an error, not the other's content under its name.
func TestStorageRefusesAnIndexThatMisnames(t *testing.T) {
	t.Parallel()
	gitDir, _ := historyRepo(t, true)
	idxPath := verifyPackIndex(t, gitDir)
	b, err := os.ReadFile(idxPath)
	if err != nil {
		t.Fatal(err)
	}
	x, err := parsePackIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	i, j := 1, x.count-2
	a, c := plumbing.Hash(x.names[i*hashLen:(i+1)*hashLen]), plumbing.Hash(x.names[j*hashLen:(j+1)*hashLen])
	offs := packIndexTables + x.count*(hashLen+4)
	for k := range 4 {
		b[offs+i*4+k], b[offs+j*4+k] = b[offs+j*4+k], b[offs+i*4+k]
	}
	sum := sha1.Sum(b[:len(b)-hashLen])
	copy(b[len(b)-hashLen:], sum[:])
	if err := os.WriteFile(idxPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st := newStorage(osfs.New(gitDir))
	defer st.Close()
	for _, h := range []plumbing.Hash{a, c} {
		if obj, err := st.EncodedObject(plumbing.AnyObject, h); err == nil {
			t.Errorf("%s read through a swapped offset as a %s of %d bytes", h, obj.Type(), obj.Size())
		}
	}
}

// verifyPackIndex is the path of the one pack index at gitDir.
func verifyPackIndex(t *testing.T, gitDir string) string {
	t.Helper()
	idx, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "pack-*.idx"))
	if len(idx) != 1 {
		t.Fatalf("%d pack indexes", len(idx))
	}
	return idx[0]
}

// TestStorageFindsAPackStoredSince: a pack stored after the storage opened
// the packs, without a Reindex (another process, or go-git's own pack
// writer), is found when an object is not in the packs it opened.
func TestStorageFindsAPackStoredSince(t *testing.T) {
	t.Parallel()
	gitDir, loose := historyRepo(t, true)
	// One storage is asked whether it has the objects, the other reads
	// them: each opened the packs before.
	has, reads := newStorage(osfs.New(gitDir)), newStorage(osfs.New(gitDir))
	defer has.Close()
	defer reads.Close()
	head := plumbing.NewHash(strings.TrimSpace(gitOut(t, gitDir, "rev-parse", "HEAD")))
	for _, st := range []*storage{has, reads} {
		if _, err := st.EncodedObject(plumbing.CommitObject, head); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("git", "-C", gitDir, "hash-object", "-w", "--stdin")
	cmd.Stdin = strings.NewReader("stored after the storage opened its packs\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	added := plumbing.NewHash(strings.TrimSpace(string(out)))
	// The two loose objects into a pack of their own, as a fetch stores one.
	cmd = exec.Command("git", "-C", gitDir, "pack-objects", "-q", filepath.Join(gitDir, "objects", "pack", "pack"))
	cmd.Stdin = strings.NewReader(added.String() + "\n" + loose.String() + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pack-objects: %v: %s", err, out)
	}
	gitOut(t, gitDir, "prune-packed")
	if _, err := os.Stat(filepath.Join(gitDir, "objects", added.String()[:2], added.String()[2:])); err == nil {
		t.Fatal("the object is still loose")
	}
	for _, h := range []plumbing.Hash{added, loose} {
		if err := has.HasEncodedObject(h); err != nil {
			t.Errorf("has %s: %v", h, err)
		}
		if _, err := reads.EncodedObject(plumbing.BlobObject, h); err != nil {
			t.Errorf("read %s: %v", h, err)
		}
	}
}
