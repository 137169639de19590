package testkit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

func TestEventually(t *testing.T) {
	calls := 0
	testkit.Eventually(t, "the third call", time.Minute, func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
	msg := fatal(t, func(tb testing.TB) {
		testkit.Eventually(tb, "the moon", 30*time.Millisecond, func() bool { return false })
	})
	if msg != "timed out after 30ms waiting for the moon" {
		t.Errorf("failure %q", msg)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := testkit.WriteFile(t, filepath.Join(dir, "a", "b"), "content")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 || testkit.ReadFile(t, p) != "content" {
		t.Fatalf("written file: %v %v", fi, err)
	}
	if got := testkit.ReadIfExists(filepath.Join(dir, "none")); got != "" {
		t.Errorf("ReadIfExists of a missing file: %q", got)
	}
	testkit.Touch(t, p)
	if testkit.ReadFile(t, p) != "content" {
		t.Error("Touch changed an existing file")
	}
	later := filepath.Join(dir, "later")
	go func() { time.Sleep(20 * time.Millisecond); _ = os.WriteFile(later, nil, 0o600) }()
	testkit.WaitFile(t, later)
	msg := fatal(t, func(tb testing.TB) { testkit.ReadFile(tb, filepath.Join(dir, "none")) })
	if !strings.Contains(msg, "none") {
		t.Errorf("ReadFile failure %q", msg)
	}
}
