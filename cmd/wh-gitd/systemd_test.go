package main

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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
		"NoNewPrivileges=true", "Restart=on-failure", "RestartPreventExitStatus=2", "User=wh-gitd",
		"WatchdogSec=30s"} {
		if !strings.Contains(unit.text, want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}

// A daemon the watchdog kills is restarted: the unit's environment makes
// the Go runtime die of the watchdog's signal (SIGABRT) after its goroutine
// dump, rather than exit with status 2, which RestartPreventExitStatus=2
// would keep from being restarted.
func TestWatchdogKillIsRestarted(t *testing.T) {
	unit := readUnit(t, "../../systemd/wh-gitd.service")
	if sig := unit.keys["WatchdogSignal"]; len(sig) > 0 && sig[0] != "SIGABRT" {
		t.Fatalf("WatchdogSignal=%s: this test sends SIGABRT", sig[0])
	}
	dir := t.TempDir()
	up, _ := upstream(t, "main")
	cmd := exec.Command(bins.daemon, siteFile(up.Path(), "").Write(t, dir))
	cmd.Env = append(os.Environ(), unit.keys["Environment"]...)
	d := startDaemonCmd(t, cmd)
	d.signal(t, syscall.SIGABRT)
	var err error
	select {
	case err = <-d.done:
		d.done <- err
	case <-time.After(60 * time.Second):
		t.Fatal("daemon did not die of SIGABRT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("daemon exit: %v, want death by SIGABRT", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGABRT {
		t.Errorf("daemon exit: %v (status %d), want death by SIGABRT", err, ws.ExitStatus())
	}
}
