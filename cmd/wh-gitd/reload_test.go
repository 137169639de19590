package main

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// A reload that changes keys read only at start says which, in one warning,
// applies the rest, and keeps listening where it did.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	file := filepath.Join(dir, "settings.yaml")
	siteSettings(t, file, "listen: 127.0.0.1:0\n", up.Path(), "")
	d := startDaemon(t, file)
	moved := freeAddr(t)
	siteSettings(t, file, "listen: "+moved+"\nworkers: 3\nshutdown_grace: 5s\nlog: {level: debug}\n", up.Path(),
		"      dev: {commands: ['true']}\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", 10*time.Second, func() bool { return strings.Contains(d.logs(), "settings reloaded") })
	var line struct {
		Level, Message string
		Keys           []string
	}
	for _, l := range strings.Split(d.logs(), "\n") {
		if strings.Contains(l, "settings reloaded") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	want := []string{"listen", "workers", "log.level"}
	if line.Level != "warn" || !slices.Equal(line.Keys, want) ||
		line.Message != "settings reloaded; a restart is needed to apply: listen, workers, log.level" {
		t.Errorf("reload line: %+v, want a warning naming %v\n%s", line, want, d.logs())
	}
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "dev", b); code != http.StatusAccepted {
		t.Errorf("a branch added by the reload, on the old address: %d %v", code, ans)
	}
	if conn, err := net.Dial("tcp", moved); err == nil {
		conn.Close()
		t.Errorf("the daemon listens on the new address %s before a restart", moved)
	}
}
