package gitsync

import (
	"bytes"
	"errors"
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
// resolveDeltas with the given limit on held bases) and returns the
// encoded index.
func indexOurs(t *testing.T, path string, limit int64) ([]byte, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := scanPack(f, io.Discard)
	if err != nil {
		return nil, err
	}
	idx := new(idxfile.Writer)
	if err := idx.OnHeader(uint32(len(ps.entries))); err != nil {
		t.Fatal(err)
	}
	res := newResolver(ps, f, idx, limit)
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

func TestIndexPackAsGit(t *testing.T) {
	t.Parallel()
	up := gitsynctest.NewUpstream(t)
	deltaChain(t, up)
	up.Commit(t, "main", map[string]string{"empty.txt": "", "moved/big.txt": bigText(7, 3000)}, "empty and moved")
	tests := []struct {
		name  string
		args  []string
		limit int64
	}{
		{"offset deltas, 200 deep", []string{"--delta-base-offset", "--depth=200", "--window=250"}, heldLimit},
		{"deltas by hash", []string{"--depth=200", "--window=250"}, heldLimit},
		{"offset deltas, every base made again", []string{"--delta-base-offset", "--depth=200", "--window=250"}, 1},
		{"deltas by hash, every base made again", []string{"--depth=200", "--window=250"}, 1},
		{"no deltas", []string{"--depth=0"}, heldLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pack := packOf(t, up, tt.args...)
			got, err := indexOurs(t, pack, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(pack, ".pack") + ".idx")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("index differs from git's: %d bytes, git's %d", len(got), len(want))
			}
		})
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
