package testkit

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Patience is how long WaitFile waits: generous, because a shared machine
// under -race can be slow, and a test that passes waits far less.
const Patience = 60 * time.Second

// Eventually calls cond every few milliseconds until it returns true, and
// fails the test, naming what it waited for, when timeout passes first. It
// must be called from the test's goroutine.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// WaitFile waits up to Patience until path exists.
func WaitFile(t testing.TB, path string) {
	t.Helper()
	Eventually(t, path+" to appear", Patience, func() bool { return Exists(path) })
}

// Exists reports whether path exists (a dangling link does).
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Touch creates path, empty, unless it exists.
func Touch(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// WriteFile writes content to path, mode 0600, making its folder if
// needed, and returns path.
func WriteFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ReadFile returns the content of path.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ReadIfExists returns the content of path, or "" when it cannot be read.
func ReadIfExists(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
