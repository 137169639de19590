package gitsync

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// packedFiles are the files of a commit that make a checkout read blobs
// from the packs: more than packedReadMin, half of them alike (so that a
// repack stores them as deltas) and half of random letters, a large
// incompressible one (streamed), an empty one, an executable and a
// symlink. seed varies every content.
func packedFiles(seed uint64) []gitsynctest.File {
	rng := rand.New(rand.NewPCG(seed, 7))
	common := strings.Repeat("the same line in every generated file of this test\n", 40)
	var out []gitsynctest.File
	for i := range packedReadMin + 44 {
		content := common
		if i%2 == 0 {
			b := make([]byte, 600+rng.IntN(1200))
			for j := range b {
				b[j] = byte('a' + rng.IntN(26))
			}
			content = string(b)
		}
		out = append(out, gitsynctest.File{Path: fmt.Sprintf("d%d/f%03d.txt", i%7, i),
			Content: content + fmt.Sprintf("file %d, seed %d, %d\n", i, seed, rng.Uint64())})
	}
	big := make([]byte, 3*asyncBlobMax+17)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	return append(out,
		gitsynctest.File{Path: "assets/big.bin", Content: string(big)},
		gitsynctest.File{Path: "empty", Content: ""},
		gitsynctest.File{Path: "bin/run", Content: fmt.Sprintf("#!/bin/sh\necho %d\n", seed), Mode: gitsynctest.Executable},
		gitsynctest.File{Path: "link", Content: fmt.Sprintf("d0/f%03d.txt", seed), Mode: gitsynctest.Symlink})
}

// gitOut runs git in dir and returns its output.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// packedObject is a line of `git verify-pack -v`.
type packedObject struct {
	hash      plumbing.Hash
	typ       string
	inPack    int64 // bytes in the pack
	off       int64
	delta     bool
	packIndex string
}

// packFileOf is the path and the content of the pack that holds po.
func packFileOf(t *testing.T, po packedObject) (string, []byte) {
	t.Helper()
	pack := strings.TrimSuffix(po.packIndex, ".idx") + ".pack"
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	return pack, b
}

func verifyPack(t *testing.T, gitDir string) map[plumbing.Hash]packedObject {
	t.Helper()
	idxs, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.idx"))
	out := make(map[plumbing.Hash]packedObject)
	for _, idx := range idxs {
		for _, line := range strings.Split(gitOut(t, gitDir, "verify-pack", "-v", idx), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 || len(f[0]) != 40 {
				continue
			}
			inPack, _ := strconv.ParseInt(f[3], 10, 64)
			off, _ := strconv.ParseInt(f[4], 10, 64)
			out[plumbing.NewHash(f[0])] = packedObject{hash: plumbing.NewHash(f[0]), typ: f[1], inPack: inPack,
				off: off, delta: len(f) >= 7, packIndex: idx}
		}
	}
	return out
}

// TestPackedBlobsReadWholeBlobs reads every blob of a repacked working
// copy (deltas among them, and one loose blob) through packedBlobs: each
// whole blob it locates reads as git reads it, buffered and streamed, and
// it leaves every delta and the loose blob to go-git.
func TestPackedBlobsReadWholeBlobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.CommitFiles(t, "main", packedFiles(1), "first")
	f.sync(t, f.target())
	gitOut(t, f.path, "repack", "-a", "-d", "-f", "--depth=50", "--window=50")

	blobs := map[plumbing.Hash]bool{}
	for _, line := range strings.Split(gitOut(t, f.path, "ls-tree", "-r", "HEAD"), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "blob" {
			blobs[plumbing.NewHash(f[2])] = true
		}
	}
	cmd := exec.Command("git", "-C", f.path, "hash-object", "-w", "--stdin")
	cmd.Stdin = strings.NewReader("a blob stored loose\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	looseHash := plumbing.NewHash(strings.TrimSpace(string(out)))
	blobs[looseHash] = true
	packed := verifyPack(t, filepath.Join(f.path, ".git"))

	pb, err := openPackedBlobs(filepath.Join(f.path, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	defer pb.close()
	hdr, r := &packReader{buf: make([]byte, 16)}, newPackReader(nil, nil, false)
	var whole, deltas, streamed int
	for h := range blobs {
		at, ok := pb.locate(h, hdr)
		po, inPack := packed[h]
		switch {
		case !inPack || po.delta:
			if ok {
				t.Errorf("blob %s located, but git says it is loose or a delta", h)
			}
			if inPack {
				deltas++
			}
			continue
		case !ok:
			t.Errorf("whole blob %s (at %d) not located", h, po.off)
			continue
		case at.off != po.off:
			t.Errorf("blob %s located at %d, git says %d", h, at.off, po.off)
		}
		// Copied as stored, the entry is read to its end and no further.
		if o, err := readRaw(at, plumbing.BlobObject, h, newByteBudget(1<<30), r); err != nil ||
			int64(len(o.raw)) != po.inPack || o.crc != crc32.ChecksumIEEE(o.raw) {
			t.Errorf("blob %s read as stored: %v, %d bytes, git says %d", h, err, len(o.raw), po.inPack)
		}
		want := gitOut(t, f.path, "cat-file", "blob", h.String())
		got, err := at.read(r, nil)
		if err != nil || string(got) != want {
			t.Errorf("read blob %s: %v, %d bytes, want %d", h, err, len(got), len(want))
		}
		sr, err := at.stream(r)
		var sb bytes.Buffer
		if err == nil {
			_, err = io.Copy(&sb, sr)
		}
		if err != nil || sb.String() != want {
			t.Errorf("stream blob %s: %v, %d bytes, want %d", h, err, sb.Len(), len(want))
		}
		whole++
		if at.size > asyncBlobMax {
			streamed++
		}
	}
	if whole < 100 || deltas < 100 || streamed != 1 {
		t.Errorf("%d whole blobs (%d large), %d deltas: the test needs both kinds and one large blob", whole, streamed, deltas)
	}
	if _, ok := pb.locate(looseHash, hdr); ok {
		t.Error("the loose blob was located in a pack")
	}
}

// TestPackedBlobsRefuseDamage flips a byte inside the data of a small and
// of a large whole blob: reading either fails, buffered or streamed; none
// yields wrong content.
func TestPackedBlobsRefuseDamage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.CommitFiles(t, "main", packedFiles(2), "first")
	f.sync(t, f.target())
	gitDir := filepath.Join(f.path, ".git")
	packed := verifyPack(t, gitDir)
	var small, large packedObject
	for _, po := range packed {
		switch {
		case po.typ != "blob" || po.delta:
		case po.inPack > 1<<16:
			large = po
		case po.inPack > 200 && small.inPack == 0:
			small = po
		}
	}
	if small.inPack == 0 || large.inPack == 0 {
		t.Fatal("no small and large whole blob to damage")
	}
	for _, po := range []packedObject{small, large} {
		pack, b := packFileOf(t, po)
		saved := b[po.off+po.inPack/2]
		b[po.off+po.inPack/2] ^= 0x5a
		if err := os.WriteFile(pack, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pb, err := openPackedBlobs(gitDir)
		if err != nil {
			t.Fatal(err)
		}
		at, ok := pb.locate(po.hash, &packReader{buf: make([]byte, 16)})
		if !ok {
			t.Fatalf("blob %s not located", po.hash)
		}
		r := newPackReader(nil, nil, false)
		if got, err := at.read(r, nil); err == nil {
			t.Errorf("damaged blob %s read without error (%d bytes)", po.hash, len(got))
		}
		sr, err := at.stream(r)
		if err == nil {
			_, err = io.Copy(io.Discard, sr)
		}
		if err == nil {
			t.Errorf("damaged blob %s streamed without error", po.hash)
		}
		pb.close()
		b[po.off+po.inPack/2] = saved
		if err := os.WriteFile(pack, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCheckoutWritesFromPacks syncs commits of more than packedReadMin
// files: a first clone, a commit changing every file, and a force-push to
// an unrelated commit. The writers read the whole blobs from the packs,
// and git finds the working copy and its index exactly at each commit.
func TestCheckoutWritesFromPacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.up.CommitFiles(t, "main", packedFiles(3), "first")
	second := f.up.CommitFiles(t, "main", packedFiles(4), "second")
	f.up.ForcePush(t, "other", f.up.Orphan(t, map[string]string{"x/only.txt": "an unrelated history\n"}, "other"))
	third := f.up.CommitFiles(t, "other", packedFiles(5), "third")
	for _, step := range []struct {
		name, sha string
		push      func()
	}{
		{"first clone", first, func() { f.up.ForcePush(t, "main", first) }},
		{"every file changed", second, func() { f.up.ForcePush(t, "main", second) }},
		{"force-push", third, func() { f.up.ForcePush(t, "main", third) }},
	} {
		step.push()
		wc, commit, jl := openFetched(t, f)
		co, err := newCheckout(context.Background(), wc, wc.headCommit(), commit, jl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := co.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if err := setHead(wc, "refs/heads/main", commit); err != nil {
			t.Fatal(err)
		}
		wc.close()
		// All but the symlink are whole blobs in the fetched pack.
		if co.fromPacks < packedReadMin || co.fromPacks != co.written-1 {
			t.Errorf("%s: %d files written, %d from packs", step.name, co.written, co.fromPacks)
		}
		assertClean(t, f.path, step.sha)
		if got := gitOut(t, f.path, "ls-files", "-s", "bin/run", "link"); !strings.HasPrefix(got, "100755") ||
			!strings.Contains(got, "120000") {
			t.Errorf("%s: modes %q", step.name, got)
		}
		if fi, err := os.Stat(filepath.Join(f.path, "bin", "run")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: bin/run %v %v", step.name, fi.Mode(), err)
		}
	}
}

// TestCheckoutStopsAtADamagedBlob: a whole blob that fails to inflate
// stops the checkout with an error naming its file, and the index written
// after it still describes the disk (git diff-files finds nothing), so
// that the next sync carries on from there.
func TestCheckoutStopsAtADamagedBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.CommitFiles(t, "main", packedFiles(6), "first")
	f.sync(t, f.target())
	f.up.CommitFiles(t, "main", packedFiles(7), "second")
	wc, commit, jl := openFetched(t, f)
	gitDir := filepath.Join(f.path, ".git")
	fetched := verifyPack(t, gitDir)
	// Damage the blob of a file near the end of the checkout's order.
	want := strings.Fields(gitOut(t, f.path, "ls-tree", commit.String(), "d6/f286.txt"))[2]
	po, ok := fetched[plumbing.NewHash(want)]
	if !ok || po.delta {
		t.Fatalf("d6/f286.txt's blob %s is not a whole packed blob (%+v)", want, po)
	}
	pack, b := packFileOf(t, po)
	b[po.off+po.inPack/2] ^= 0x5a
	if err := os.WriteFile(pack, b, 0o644); err != nil {
		t.Fatal(err)
	}
	co, err := newCheckout(context.Background(), wc, wc.headCommit(), commit, jl, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = co.run()
	if err == nil || !strings.Contains(err.Error(), "d6/f286.txt") {
		t.Fatalf("run = %v, want the failure of d6/f286.txt", err)
	}
	if co.fromPacks == 0 {
		t.Error("no file was written from the packs before the failure")
	}
	if out, err := exec.Command("git", "-C", f.path, "diff-files", "--name-only").CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("the index does not describe the disk after the failure: %v\n%s", err, out)
	}
}
