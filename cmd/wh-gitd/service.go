package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/metrics"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/report"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
	"github.com/wh-gitd/wh-gitd/ui"
)

// service is one running daemon: its two listeners (HTTP, and the control
// socket in the state dir), the job store, the runner and the servers.
type service struct {
	set    *settings.Settings
	log    zerolog.Logger
	cert   *receiver.Certificate
	ln     net.Listener
	ctl    *net.UnixListener
	store  *jobstore.Store
	syncer gitsyncer.Syncer
	rn     *runner.Runner
	plan   *report.Planner
	sender *report.Sender
	h      *receiver.Handler
	page   *ui.Handler
	mx     *metrics.Metrics
	srv    *http.Server // webhooks and the job API with its token
	ctlSrv *http.Server // the job API on the control socket
	served chan error
	idle   idleTrim
}

// open takes the daemon's resources in order: the state dir, the TLS pair,
// the HTTP listener, the control socket, then the job store. On an error it
// releases what it took.
func open(set *settings.Settings, log zerolog.Logger) (*service, error) {
	if err := os.MkdirAll(set.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	s := &service{set: set, log: log, served: make(chan error, 2)}
	var err error
	if s.cert, err = loadCertificate(set, log); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", set.Listen); err != nil {
		return nil, &cli.UsageError{Err: fmt.Errorf("listen: %w", err),
			Hint: "another process holds the address, or set listen: in the settings"}
	}
	if s.ctl, err = listenControl(set.StateDir); err != nil {
		s.ln.Close()
		return nil, err
	}
	if s.store, err = jobstore.Open(set.StateDir, time.Second); err != nil {
		s.ln.Close()
		s.ctl.Close()
		if errors.Is(err, jobstore.ErrLocked) {
			return nil, &cli.UsageError{Err: err, Hint: "another wh-gitd or wh-git-trigger uses state_dir " + set.StateDir}
		}
		return nil, err
	}
	s.plan = report.NewPlanner(set)
	s.store.SetPlanner(s.plan.Plan)
	s.mx = newMetrics(s)
	s.sender = report.New(report.Options{Settings: set, Store: s.store, Logger: log,
		UserAgent: "wh-gitd/" + cli.Version(), OnPost: s.mx.OutboxPost})
	s.syncer = gitsyncer.New(log)
	s.rn = runner.New(runner.Options{Settings: set, Syncer: s.syncer, Prober: s.syncer, Store: s.store,
		Logger: log, Tokens: s.sender, OnDone: func(rec job.Record) { s.mx.JobEnded(rec); s.idle.jobEnded(rec) },
		OnSync: s.mx.Synced})
	s.page = ui.New(ui.Options{Settings: set, Jobs: s.rn, Logger: log})
	s.h = receiver.New(receiver.Options{Settings: set, Jobs: s.rn, Logger: log, Page: s.page,
		Observer: s.mx, Metrics: s.mx})
	return s, nil
}

// listenControl listens on the control socket, with a hint for each way
// that can fail.
func listenControl(stateDir string) (*net.UnixListener, error) {
	ln, err := receiver.ListenControl(jobstore.ControlPath(stateDir))
	switch {
	case errors.Is(err, receiver.ErrControlInUse):
		return nil, &cli.UsageError{Err: err, Hint: "another wh-gitd runs with state_dir " + stateDir}
	case err != nil:
		return nil, &cli.UsageError{Err: err,
			Hint: "the daemon's user must be able to create files in state_dir, and its path must be short"}
	}
	return ln, nil
}

// Run resumes the jobs left unfinished, starts the poll and both servers,
// tells systemd it is ready, then reloads the settings from path on every
// signal from hup, until ctx is done (SIGTERM, SIGINT) or a server fails,
// whose error it returns. Close stops what it started.
func (s *service) Run(ctx context.Context, hup <-chan os.Signal, path string) error {
	s.start()
	s.log.Info().Str("listen", s.ln.Addr().String()).Str("control", s.ctl.Addr().String()).
		Int("repos", len(s.set.Repos)).Str("version", cli.Version()).Msg("wh-gitd started")
	notify("READY=1")
	giveBackCode() // what only starting used
	wctx, stopWatch := context.WithCancel(ctx)
	watched, trimmed := make(chan struct{}), make(chan struct{})
	go func() { s.watch(wctx); close(watched) }()
	go func() { s.trimWhenIdle(wctx); close(trimmed) }()
	err := s.wait(ctx, hup, path)
	stopWatch()
	<-watched
	<-trimmed
	notify("STOPPING=1")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// start resumes the jobs left unfinished, then starts the poll and both
// servers.
func (s *service) start() {
	s.sender.Start()
	n, err := s.rn.Start()
	if err != nil {
		s.log.Error().Err(err).Msg("job history partly unreadable: those jobs are not resumed")
	}
	if n > 0 {
		s.log.Info().Int("jobs", n).Msg("resuming jobs left unfinished")
	}
	s.srv = receiver.NewServerFor(s.set, s.h, s.log)
	if s.cert == nil {
		go func() { s.served <- s.srv.Serve(s.ln) }()
	} else {
		s.srv.TLSConfig = s.cert.TLSConfig()
		go func() { s.served <- s.srv.ServeTLS(s.ln, "", "") }()
	}
	s.ctlSrv = receiver.NewServer("", s.h.Control())
	go func() { s.served <- s.ctlSrv.Serve(s.ctl) }()
}

// wait reloads the settings on every SIGHUP until ctx is done (SIGTERM,
// SIGINT) or a server fails, and returns that server's error.
func (s *service) wait(ctx context.Context, hup <-chan os.Signal, path string) error {
	parts := []settable{s.rn, s.h, s.page, s.plan, s.sender}
	if s.cert != nil {
		parts = append(parts, s.cert)
	}
	for {
		select {
		case <-hup:
			notify("RELOADING=1")
			s.set = reload(s.log, path, s.set, parts...)
			notify("READY=1")
		case <-ctx.Done():
			return nil
		case err := <-s.served:
			return err
		}
	}
}

// Close stops intake (requests under way get a few seconds to be
// answered), gives running jobs the grace period, then has the runner kill
// what is left of their commands. The control socket answers until the jobs
// have stopped, then goes, and the store is closed last.
func (s *service) Close() {
	s.log.Info().Msg("shutting down: no new deliveries")
	closeServer(s.log, s.srv, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), s.set.ShutdownGrace)
	defer cancel()
	if err := s.rn.Close(ctx); err != nil {
		s.log.Warn().Int64("grace_ms", s.set.ShutdownGrace.Milliseconds()).
			Msg("running jobs did not finish within the grace period: cancelled")
	}
	closeServer(s.log, s.ctlSrv, time.Second)
	s.sender.Close()
	if err := s.store.Close(); err != nil {
		s.log.Error().Err(err).Msg("close job store")
	}
	s.log.Info().Msg("wh-gitd stopped")
}

// closeServer stops srv taking requests, waits up to wait for those under
// way, then closes the connections still open (followed logs).
func closeServer(log zerolog.Logger, srv *http.Server, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		log.Warn().Err(err).Msg("connections still open at shutdown were closed")
	}
}

// loadCertificate reads the TLS key pair the settings name; nil without TLS.
func loadCertificate(set *settings.Settings, log zerolog.Logger) (*receiver.Certificate, error) {
	if !set.TLS.Enabled() {
		return nil, nil
	}
	cert, err := receiver.LoadCertificate(set.TLS, log)
	if err != nil {
		return nil, &cli.UsageError{Err: err, Hint: "tls.cert_file and tls.key_file must be a PEM certificate and its key"}
	}
	return cert, nil
}
