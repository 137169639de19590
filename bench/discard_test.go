package main

import (
	"os"
	"path/filepath"
	"testing"
)

// discard moves a working copy out of the way, whole, into the run's
// folder (so that the clone after it does not measure deletes), and does
// nothing where there is nothing.
func TestDiscardMovesAside(t *testing.T) {
	e := &benchEnv{tmp: t.TempDir()}
	wc := filepath.Join(e.tmp, "sync", "wc")
	if err := os.MkdirAll(filepath.Join(wc, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wc, "src", "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.discard(wc); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(wc); !os.IsNotExist(err) {
			t.Fatalf("working copy still there after discard: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(e.tmp, "discarded", "1", "src", "a.txt"))
	if err != nil || string(b) != "a" {
		t.Errorf("moved-aside copy: %q, %v", b, err)
	}
	if n := e.discarded.Load(); n != 1 {
		t.Errorf("%d working copies moved aside, want 1 (the second discard found nothing)", n)
	}
}
