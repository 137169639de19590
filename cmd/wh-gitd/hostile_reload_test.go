//go:build hostile

package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// SIGHUP with the settings file broken in every way a deploy script or an
// editor can break it keeps the settings in force and logs why; a storm of
// SIGHUPs leaves the daemon serving.
func TestHostileReloads(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	file := daemonSettings(t, dir, up, "", "true")
	good := readFileT(t, file)
	d := startDaemonEnv(t, file, minimalEnv())
	refusals := 0
	hup := func(t *testing.T) {
		t.Helper()
		refusals++
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the reload to be refused", 10*time.Second, func() bool {
			return strings.Count(d.logs(), "reload refused") >= refusals
		})
	}
	cases := []struct {
		name   string
		break_ func(t *testing.T)
		logHas string
	}{
		{"half-written file", func(t *testing.T) { writeFile(t, file, good[:len(good)/2]+"\n  bad: [") }, "parse settings"},
		{"empty file", func(t *testing.T) { writeFile(t, file, "") }, "repos: at least one repository is required"},
		{"valid YAML, bad values", func(t *testing.T) {
			writeFile(t, file, strings.Replace(good, "kill_grace: 500ms", "kill_grace: soon", 1))
		}, "kill_grace: must be a duration"},
		{"file removed", func(t *testing.T) { _ = os.Remove(file) }, "read settings"},
		{"a folder instead", func(t *testing.T) { _ = os.Remove(file); _ = os.Mkdir(file, 0o755) }, "read settings"},
		{"binary garbage", func(t *testing.T) { _ = os.Remove(file); writeFile(t, file, "\x00\xff\xfe{{{\x01") }, "settings"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_(t)
			hup(t)
			if !strings.Contains(d.logs(), tc.logHas) {
				t.Errorf("the refusal does not say %q:\n%s", tc.logHas, d.logs())
			}
			if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", sha); code != http.StatusAccepted &&
				!(code == http.StatusOK && ans["status"] == "duplicate") {
				t.Fatalf("push with the old settings: %d %v", code, ans)
			}
			_ = os.RemoveAll(file)
			writeFile(t, file, good)
		})
	}
	t.Run("storm of SIGHUPs", func(t *testing.T) {
		for range 50 {
			_ = d.cmd.Process.Signal(syscall.SIGHUP)
		}
		waitFor(t, "the reloads", 10*time.Second, func() bool { return strings.Count(d.logs(), "settings reloaded") >= 1 })
		if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", sha); code != http.StatusAccepted {
			t.Fatalf("push after the storm: %d %v", code, ans)
		}
	})
	if n := strings.Count(d.logs(), "reload refused"); n != len(cases) {
		t.Errorf("%d refusals logged, want %d", n, len(cases))
	}
	if strings.Contains(d.logs(), `"secret"`) || strings.Contains(d.logs(), "secret: s-secret-0123456789\n") {
		t.Error("a reload refusal shows the secret")
	}
}
