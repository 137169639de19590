package gitsync

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/index"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// decodeIndex decodes what go-git decodes, the same way, for indexes git
// writes in the usual and unusual states a working copy can be left in,
// and for damaged ones (the same error).
func TestDecodeIndexAsGoGit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("d/", 2100) + "long-name" // over 0xfff bytes: NUL-terminated
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		fast  bool // decoded here rather than by go-git
	}{
		{"entries, no cache-tree", func(t *testing.T, dir string) {
			testkit.Git(t, dir, "add", "-A")
		}, true},
		{"after a commit: cache-tree", func(t *testing.T, dir string) {
			commitAll(t, dir)
		}, true},
		{"a changed file invalidates part of the cache-tree", func(t *testing.T, dir string) {
			commitAll(t, dir)
			testkit.WriteFile(t, filepath.Join(dir, "app", "a.go"), "changed")
			testkit.Git(t, dir, "add", "app/a.go")
		}, true},
		{"version 3: skip-worktree and intent-to-add", func(t *testing.T, dir string) {
			commitAll(t, dir)
			testkit.Git(t, dir, "update-index", "--skip-worktree", "README")
			testkit.WriteFile(t, filepath.Join(dir, "new.txt"), "new")
			testkit.Git(t, dir, "add", "-N", "new.txt")
		}, true},
		{"conflict stages", func(t *testing.T, dir string) {
			conflict(t, dir, 1, 2, 3)
		}, true},
		{"a name longer than 4094 bytes", func(t *testing.T, dir string) {
			blob := testkit.Git(t, dir, "hash-object", "-w", "README")
			testkit.Git(t, dir, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+long)
		}, true},
		{"version 4 (go-git decodes it)", func(t *testing.T, dir string) {
			testkit.Git(t, dir, "add", "-A")
			testkit.Git(t, dir, "update-index", "--index-version", "4")
		}, false},
		{"resolve-undo extension (go-git decodes it)", func(t *testing.T, dir string) {
			conflict(t, dir, 2, 3)
			testkit.Git(t, dir, "add", "README")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			testkit.Git(t, dir, "init", "-q")
			for p, c := range nestedFiles {
				testkit.WriteFile(t, filepath.Join(dir, filepath.FromSlash(p)), c)
			}
			tc.setup(t, dir)
			data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
			if err != nil {
				t.Fatal(err)
			}
			want := &index.Index{Version: 2}
			if err := index.NewDecoder(bytes.NewReader(data)).Decode(want); err != nil {
				t.Fatalf("go-git: %v", err)
			}
			got, err := decodeIndex(data)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeIndex = %v\n%+v\nwant (go-git)\n%+v", err, got, want)
			}
			if _, fast := decodeIndexFast(data); fast != tc.fast {
				t.Errorf("decoded here: %v, want %v", fast, tc.fast)
			}
			damaged := bytes.Clone(data)
			damaged[len(damaged)/2] ^= 0xff
			for _, bad := range [][]byte{damaged, data[:len(data)-7], data[:20]} {
				wantErr := index.NewDecoder(bytes.NewReader(bad)).Decode(&index.Index{Version: 2})
				if _, err := decodeIndex(bad); fmt.Sprint(err) != fmt.Sprint(wantErr) || err == nil {
					t.Errorf("damaged index: %v, want go-git's %v", err, wantErr)
				}
			}
		})
	}
}

// The working copy's index, as writeIndex wrote it, reads as go-git's
// storage reads it, its modification time (the racy-clean check's) too.
func TestReadIndexFileAsGoGitStorage(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, nestedFiles)
	wc, _, _ := openPacks(t, f.path)
	data, err := os.ReadFile(filepath.Join(f.path, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	if _, fast := decodeIndexFast(data); !fast {
		t.Error("the index writeIndex wrote is not decoded here")
	}
	got, err := readIndexFile(wc)
	if err != nil {
		t.Fatal(err)
	}
	want, err := wc.repo.Storer.Index()
	if err != nil {
		t.Fatal(err)
	}
	if got.ModTime.IsZero() || !reflect.DeepEqual(got, want) {
		t.Errorf("readIndexFile = %+v\nwant (go-git's storage) %+v", got, want)
	}
	if err := os.Remove(filepath.Join(f.path, ".git", "index")); err != nil {
		t.Fatal(err)
	}
	got, err = readIndexFile(wc)
	want, werr := wc.repo.Storer.Index()
	if err != nil || werr != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("no index: readIndexFile = %+v, %v; go-git %+v, %v", got, err, want, werr)
	}
}

// commitAll commits everything in dir.
func commitAll(t testing.TB, dir string) {
	t.Helper()
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c")
}

// conflict commits everything in dir, then puts README in the index at
// stages, as a merge conflict leaves it.
func conflict(t *testing.T, dir string, stages ...int) {
	t.Helper()
	commitAll(t, dir)
	blob := testkit.Git(t, dir, "rev-parse", "HEAD:README")
	lines := fmt.Sprintf("0 %s 0\tREADME\n", strings.Repeat("0", 40))
	for _, st := range stages {
		lines += fmt.Sprintf("100644 %s %d\tREADME\n", blob, st)
	}
	cmd := exec.Command("git", "update-index", "--index-info")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(lines)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("update-index: %v: %s", err, out)
	}
}

// FuzzDecodeIndexFast: whatever index decodeIndexFast takes, go-git's
// decoder takes too and reads the same. The input is an index's body; its
// checksum is computed here, so that the fuzzer's changes reach the
// entries and the cache-tree rather than stop at the checksum.
func FuzzDecodeIndexFast(f *testing.F) {
	dir := f.TempDir()
	testkit.Git(f, dir, "init", "-q")
	for p, c := range nestedFiles {
		testkit.WriteFile(f, filepath.Join(dir, filepath.FromSlash(p)), c)
	}
	commitAll(f, dir)
	testkit.WriteFile(f, filepath.Join(dir, "app", "a.go"), "changed")
	testkit.Git(f, dir, "add", "app/a.go")
	data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:len(data)-indexTrailer])
	f.Add([]byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha1.Sum(body)
		data := append(bytes.Clone(body), sum[:]...)
		got, ok := decodeIndexFast(data)
		if !ok {
			return
		}
		want := &index.Index{Version: 2}
		if err := index.NewDecoder(bytes.NewReader(data)).Decode(want); err != nil {
			t.Fatalf("decoded here, but go-git says: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded here as\n%+v\ngo-git decodes\n%+v", got, want)
		}
	})
}
