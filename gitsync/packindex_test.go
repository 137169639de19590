package gitsync

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
)

// A pack index opened through packIndexFS reads as the file does, also
// after a seek from the current position, and other files are not wrapped.
func TestPackIndexFSReadsAsTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := make([]byte, 3*packIndexBuffer)
	for i := range data {
		data[i] = byte(i * 7)
	}
	name := "objects/pack/pack-0123.idx"
	if err := os.MkdirAll(filepath.Join(dir, "objects", "pack"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{name, "config"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(n)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := packIndexFS{osfs.New(dir)}
	if f, err := fs.Open("config"); err != nil {
		t.Fatal(err)
	} else if _, wrapped := f.(*bufferedFile); wrapped {
		t.Error("config is read through a buffer")
	} else {
		f.Close()
	}
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(*bufferedFile); !ok {
		t.Fatalf("%s is not read through a buffer", name)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != string(data[:10]) {
		t.Fatalf("first bytes %v, %v", head, err)
	}
	at, err := f.Seek(5, io.SeekCurrent)
	if err != nil || at != 15 {
		t.Fatalf("Seek(5, current) = %d, %v; want 15", at, err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || string(rest) != string(data[15:]) {
		t.Fatalf("after the seek: %d bytes, %v; want %d", len(rest), err, len(data)-15)
	}
}

// countingFS counts the reads of the files it opens.
type countingFS struct {
	billy.Filesystem
	reads *int
}

func (fs countingFS) Open(name string) (billy.File, error) {
	f, err := fs.Filesystem.Open(name)
	if err != nil {
		return nil, err
	}
	return countingFile{f, fs.reads}, nil
}

type countingFile struct {
	billy.File
	reads *int
}

func (f countingFile) Read(p []byte) (int, error) {
	*f.reads++
	return f.File.Read(p)
}

// go-git's storage reads a pack's index in a few reads: its decoder alone
// made over a thousand for this one.
func TestStorageReadsPackIndexesWhole(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "1", "b": "2"})
	files := make(map[string]string)
	for i := range 600 {
		files[fmt.Sprintf("f%03d", i)] = fmt.Sprint(i)
	}
	f.up.Commit(t, "main", files, "many")
	f.sync(t, f.target())
	var reads int
	st := newStorage(countingFS{osfs.New(filepath.Join(f.path, ".git")), &reads})
	defer st.Close()
	// go-git's own reads (its pack writer's, the upkeep's iteration) load
	// every index; the storage's EncodedObject reads packs without them.
	if _, err := st.Storage.EncodedObject(plumbing.AnyObject, plumbing.ZeroHash); err == nil {
		t.Fatal("the zero hash was found")
	}
	if reads == 0 || reads > 20 {
		t.Errorf("%d reads to load the pack indexes, want 1 to 20", reads)
	}
}

// opensFS counts the files its callers open through it.
type opensFS struct {
	billy.Filesystem
	opens *int
}

func (fs opensFS) Open(name string) (billy.File, error) {
	*fs.opens++
	return fs.Filesystem.Open(name)
}

// A loose object that is not there is answered by one lstat, without the
// wrapped folder's open (go-git's chroot walks each folder of the path
// first): go-git looks there for every object before it looks in the
// packs. One that is there, and other files, are opened as before.
func TestPackIndexFSLooksForLooseObjectsOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	there := "objects/ab/" + strings.Repeat("c", 38)
	if err := os.MkdirAll(filepath.Join(dir, "objects", "ab"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, there), []byte("loose"), 0o444); err != nil {
		t.Fatal(err)
	}
	var opens int
	fs := packIndexFS{opensFS{osfs.New(dir), &opens}}
	for _, missing := range []string{"objects/ab/" + strings.Repeat("d", 38), "objects/ef/" + strings.Repeat("0", 38)} {
		if f, err := fs.Open(missing); !os.IsNotExist(err) {
			t.Errorf("Open(%s) = %v, %v; want an error saying it does not exist", missing, f, err)
		}
	}
	if opens != 0 {
		t.Errorf("%d opens of missing loose objects went to the wrapped folder, want 0", opens)
	}
	f, err := fs.Open(there)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "loose" {
		t.Errorf("%s reads %q, %v", there, b, err)
	}
	for _, name := range []string{"objects/info/alternates", "objects/ab/" + strings.Repeat("c", 37), "objects/AB/" + strings.Repeat("c", 38)} {
		opens = 0
		if _, err := fs.Open(name); !os.IsNotExist(err) || opens != 1 {
			t.Errorf("Open(%s): %v after %d opens of the wrapped folder; want not found after 1", name, err, opens)
		}
	}
}
