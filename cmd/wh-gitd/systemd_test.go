package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The shipped unit passes systemd-analyze verify (with ExecStart pointing at
// a real binary) and keeps an exposure score of "OK" or better.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing; .ci/run installs it")
		}
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../../systemd/wh-gitd.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(unit), "ExecStart=/usr/local/bin/wh-gitd ", "ExecStart="+bins.daemon+" ", 1)
	if text == string(unit) {
		t.Fatal("unit has no ExecStart=/usr/local/bin/wh-gitd")
	}
	path := filepath.Join(t.TempDir(), "wh-gitd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	sm := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if sm == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(sm[1]), 64)
	if score > 2.0 {
		t.Errorf("exposure %.1f %s, want 2.0 or lower (it was 1.7 OK)", score, sm[2])
	}
	// The stop timeout must leave room for the default shutdown_grace and
	// kill_grace, or systemd kills jobs before wh-gitd can record them.
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("unit has no TimeoutStopSec=<n>s")
	}
	if stop, _ := strconv.Atoi(m[1]); time.Duration(stop)*time.Second <= 30*time.Second+10*time.Second {
		t.Errorf("TimeoutStopSec=%ss is not longer than shutdown_grace + kill_grace (40s)", m[1])
	}
	for _, want := range []string{"ProtectSystem=strict", "ReadWritePaths=", "PrivateTmp=true",
		"NoNewPrivileges=true", "Restart=on-failure", "RestartPreventExitStatus=2", "User=wh-gitd"} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}
