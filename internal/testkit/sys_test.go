package testkit_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

func TestHead(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	wc := filepath.Join(t.TempDir(), "wc")
	testkit.Git(t, "", "clone", "--quiet", "--branch", "main", up.Path(), wc)
	if got := testkit.Head(t, wc); got != sha {
		t.Errorf("Head %s, want %s", got, sha)
	}
}

func TestAlive(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !testkit.Alive(pid) {
		t.Error("a running process is not alive")
	}
	_ = cmd.Process.Kill()
	testkit.Eventually(t, "the process to be a zombie", testkit.Patience, func() bool { return !testkit.Alive(pid) })
	_ = cmd.Wait()
	if testkit.Alive(0) || testkit.Alive(-1) {
		t.Error("pid 0 or -1 is alive")
	}
}

// A connection from Dial reaches the listener and gives up at its deadline.
func TestDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn := testkit.Dial(t, ln.Addr().String(), 50*time.Millisecond)
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read from a silent peer: %v, want the deadline exceeded", err)
	}
}

func TestSockets(t *testing.T) {
	addr := testkit.FreeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the free address %s: %v", addr, err)
	}
	ln.Close()
	sock := filepath.Join(t.TempDir(), "s.sock")
	testkit.StaleSocket(t, sock)
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("stale socket: %v %v", fi, err)
	}
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		t.Error("something answers on the stale socket")
	}
}
