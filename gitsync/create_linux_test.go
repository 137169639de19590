package gitsync

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateFileKeepsModeUnderUmask runs createFile in a child process
// whose umask is 077: a file still gets exactly the mode git records
// (0644 or 0755), as with the usual 022, where no chmod is needed.
func TestCreateFileKeepsModeUnderUmask(t *testing.T) {
	t.Parallel()
	for _, umask := range []string{"022", "077"} {
		dir := t.TempDir()
		cmd := exec.Command("sh", "-c", "umask "+umask+" && exec \"$0\" -test.run '^TestCreateFileChild$' -test.count=1", os.Args[0])
		cmd.Env = append(os.Environ(), "WH_CREATE_CHILD_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("umask %s: child: %v\n%s", umask, err, out)
		}
		for name, want := range map[string]fs.FileMode{"plain": 0o644, "exec": 0o755} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.Mode().Perm() != want {
				t.Errorf("umask %s: %s: %v %v, want %v", umask, name, fi.Mode(), err, want)
			}
		}
	}
}

// TestCreateFileChild is TestCreateFileKeepsModeUnderUmask's child.
func TestCreateFileChild(t *testing.T) {
	dir := os.Getenv("WH_CREATE_CHILD_DIR")
	if dir == "" {
		t.Skip("run by TestCreateFileKeepsModeUnderUmask")
	}
	for name, perm := range map[string]fs.FileMode{"plain": 0o644, "exec": 0o755} {
		if err := createFile(filepath.Join(dir, name), strings.NewReader("content\n"), perm); err != nil {
			t.Fatal(err)
		}
	}
	if err := createFile(filepath.Join(dir, "plain"), strings.NewReader("again"), 0o644); !os.IsExist(err) {
		t.Errorf("createFile over an existing file = %v, want it to exist", err)
	}
}
