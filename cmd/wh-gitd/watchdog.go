package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// statusEvery is how often STATUS= is sent when systemd asks for no
// watchdog.
const statusEvery = 10 * time.Second

// watch tells systemd, until ctx is done, the jobs running and queued
// (STATUS=, shown by systemctl status) and, when the unit sets
// WatchdogSec=, that the daemon is healthy (WATCHDOG=1), three times per
// watchdog interval. A check that fails or does not answer within its
// share of the interval sends no ping: a daemon that stays wedged is
// killed and restarted by systemd.
func (s *service) watch(ctx context.Context) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		s.log.Warn().Err(err).Msg("systemd watchdog settings unreadable: no watchdog pings")
	}
	period := statusEvery
	if interval > 0 {
		period = interval / 3
	}
	t := time.NewTicker(period)
	defer t.Stop()
	healthy := true
	for {
		healthy = s.beat(ctx, interval > 0, period, healthy)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat checks the daemon's health within bound and tells systemd; it logs
// when the health changes, and returns it.
func (s *service) beat(ctx context.Context, watchdog bool, bound time.Duration, was bool) bool {
	cctx, cancel := context.WithTimeout(ctx, bound)
	queued, running, err := s.check(cctx)
	cancel()
	switch {
	case ctx.Err() != nil:
		return was
	case err != nil:
		if was {
			s.log.Error().Err(err).Msg("unhealthy: no watchdog pings until it answers again")
		}
		notify("STATUS=unhealthy: " + err.Error())
		return false
	case !was:
		s.log.Info().Msg("healthy again")
	}
	state := fmt.Sprintf("STATUS=%d jobs running, %d queued", running, queued)
	if watchdog {
		state += "\n" + sd.SdNotifyWatchdog
	}
	notify(state)
	return true
}

// check asks each part of the daemon whether it works: the job store
// reads and its writes go through, the scheduler is alive, and the HTTP
// listener accepts and answers /healthz.
func (s *service) check(ctx context.Context) (queued, running int, err error) {
	if err := s.store.Ping(ctx); err != nil {
		return 0, 0, err
	}
	if queued, running, err = s.rn.Probe(ctx); err != nil {
		return 0, 0, err
	}
	return queued, running, s.probeHTTP(ctx)
}

// probeHTTP asks the HTTP listener for /healthz over loopback (on a fresh
// connection, so that it has to accept one).
func (s *service) probeHTTP(ctx context.Context) error {
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if s.cert != nil {
		scheme = "https"
		// The daemon's own listener, over loopback: its certificate names
		// the public host, not this address.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+loopback(s.ln.Addr())+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("probe http listener: %w", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("probe http listener: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("probe http listener: /healthz answered " + resp.Status)
	}
	return nil
}

// loopback is the address to reach a listener on from this host: a
// wildcard address becomes the loopback address of its family.
func loopback(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := ta.IP
	switch {
	case ip.To4() != nil && ip.IsUnspecified():
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}
