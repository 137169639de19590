//go:build hostile

package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// notifySocket listens where the daemon's systemd notifications go, as
// systemd does for a Type=notify unit with WatchdogSec=, and returns the
// messages received.
func notifySocket(t *testing.T, watchdog time.Duration) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	msgs := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// next returns the next message that has want, failing after a generous
// wait.
func next(t *testing.T, msgs <-chan string, want string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no notification with %q", want)
		}
	}
}

// The daemon tells systemd it is ready, then pings the watchdog with the
// jobs in its status line while it is healthy; when its job store hangs
// (its writes do not go through) the pings stop, so systemd would restart
// it, and they come back when the store answers again.
func TestWatchdogStopsWhileTheStoreHangs(t *testing.T) {
	for _, tc := range []struct{ name, top string }{{"http", ""}, {"https", tlsTop}} {
		t.Run(tc.name, func(t *testing.T) { watchdogStops(t, tc.top) })
	}
}

// watchdogStops runs the daemon in-process with more top-level settings
// top, and makes its store hang.
func watchdogStops(t *testing.T, top string) {
	msgs := notifySocket(t, 1500*time.Millisecond)
	dir := t.TempDir()
	if top != "" {
		testkit.Cert(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "wh-gitd.example")
	}
	set := siteFile("/nonexistent", top).Load(t, dir)
	svc, err := open(set, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx, nil, set.File) }()
	t.Cleanup(func() {
		cancel()
		<-ran
		svc.Close()
	})
	if m := next(t, msgs, "=1"); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", m)
	}
	if m := next(t, msgs, "WATCHDOG=1"); !strings.Contains(m, "STATUS=0 jobs running, 0 queued") {
		t.Errorf("ping %q has no status line with the jobs", m)
	}
	release := svc.store.Stall()
	defer release()
	first := next(t, msgs, "STATUS=unhealthy")
	if !strings.Contains(first, "job store") {
		t.Errorf("unhealthy status %q does not name the store", first)
	}
	// Every check that starts after the store hung fails: the next ones
	// send no ping.
	for range 3 {
		if m := next(t, msgs, "STATUS="); strings.Contains(m, "WATCHDOG=1") || !strings.Contains(m, "unhealthy") {
			t.Fatalf("notification %q while the store hangs", m)
		}
	}
	release()
	next(t, msgs, "WATCHDOG=1")
}
