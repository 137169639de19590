package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The shipped unit passes systemd-analyze verify (with ExecStart pointing at
// a real binary) and keeps an exposure score of "OK" or better.
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing; .ci/run installs it")
		}
		t.Skip("systemd-analyze is not installed")
	}
	unit := readUnit(t, "../../systemd/wh-gitd.service")
	if unit.execStart(t)[0] != "/usr/local/bin/wh-gitd" {
		t.Fatal("unit has no ExecStart=/usr/local/bin/wh-gitd")
	}
	path := verifyUnit(t, unit, bins.daemon)
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
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
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s$`).FindStringSubmatch(unit.text)
	if m == nil {
		t.Fatal("unit has no TimeoutStopSec=<n>s")
	}
	if stop, _ := strconv.Atoi(m[1]); time.Duration(stop)*time.Second <= 30*time.Second+10*time.Second {
		t.Errorf("TimeoutStopSec=%ss is not longer than shutdown_grace + kill_grace (40s)", m[1])
	}
	for _, want := range []string{"ProtectSystem=strict", "ReadWritePaths=", "PrivateTmp=true",
		"NoNewPrivileges=true", "Restart=on-failure", "RestartPreventExitStatus=2", "User=wh-gitd"} {
		if !strings.Contains(unit.text, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}
