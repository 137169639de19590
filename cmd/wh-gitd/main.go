// Command wh-gitd is the webhook daemon: it verifies GitHub, GitLab and Gogs
// deliveries, answers at once, and in the background brings the matching
// working copy to the pushed commit and runs the configured commands.
//
//	wh-gitd [flags] settings.yaml
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/runner"
)

var _ runner.Syncer = (*gitsync.Syncer)(nil)

func main() {
	// The live heap is about 1 MB, so the default GOGC=100 collects a few
	// hundred times a second under load (18% of CPU in BENCHMARKS.md);
	// 400 trades a few MB of peak memory for that. A soft limit of 64 MiB
	// makes the collector work harder again when garbage piles up (bodies
	// near max_body_bytes), so that the trade stays a few MB. GOGC and
	// GOMEMLIMIT in the environment still win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("wh-gitd", err, os.Stderr))
}

const usage = `usage: wh-gitd [flags] settings.yaml

Listens for signed webhook deliveries and deploys each configured branch.
Flags:
`

type flags struct {
	check   bool
	version bool
}

// run starts the daemon and returns when ctx is cancelled (SIGTERM, SIGINT)
// and the shutdown is done, or when the listener fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f flags
	fs := flag.NewFlagSet("wh-gitd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.BoolVar(&f.check, "check", false, "validate the settings file and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if f.version {
		fmt.Fprintln(stdout, "wh-gitd", cli.Version())
		return nil
	}
	if len(pos) != 1 {
		return cli.Usagef("wh-gitd settings.example.yaml", "expected one settings file, got %d arguments", len(pos))
	}
	set, err := cli.LoadSettings(pos[0])
	if err != nil {
		return err
	}
	if f.check {
		fmt.Fprintf(stdout, "%s: ok, %d repositories\n", set.File, len(set.Repos))
		return nil
	}
	// Catch SIGHUP before anything can announce the daemon: its default
	// action would kill a daemon reloaded right after it said it was ready.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := cli.Logger(set.Log, stdout)
	if err := os.MkdirAll(set.StateDir, 0o750); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	cert, err := loadCertificate(set, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", set.Listen)
	if err != nil {
		return &cli.UsageError{Err: fmt.Errorf("listen: %w", err),
			Hint: "another process holds the address, or set listen: in the settings"}
	}
	store, err := runner.OpenStore(filepath.Join(set.StateDir, "jobs.db"), time.Second)
	if err != nil {
		ln.Close()
		if errors.Is(err, runner.ErrLocked) {
			return &cli.UsageError{Err: err, Hint: "another wh-gitd runs with state_dir " + set.StateDir}
		}
		return err
	}
	defer store.Close()
	syncer := gitsync.New(log)
	rn := runner.New(runner.Options{Settings: set, Syncer: syncer, Store: store, Logger: log})
	if n, _ := rn.Recover(); n > 0 {
		log.Info().Int("jobs", n).Msg("resuming jobs left unfinished")
	}
	pollCtx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go rn.Poll(pollCtx, syncer)
	h := receiver.New(receiver.Options{Settings: set, Jobs: rn, Logger: log})
	srv, served := serve(set, h, ln, cert, log)
	log.Info().Str("listen", ln.Addr().String()).Int("repos", len(set.Repos)).
		Str("version", cli.Version()).Msg("wh-gitd started")
	notify("READY=1")

	for done := false; !done; {
		select {
		case <-hup:
			notify("RELOADING=1")
			set = reload(log, pos[0], set, reloadParts(cert, rn, h)...)
			notify("READY=1")
		case <-ctx.Done():
			done = true
		case err = <-served:
			done = true
		}
	}
	notify("STOPPING=1")
	stopPoll()
	log.Info().Msg("shutting down: no new deliveries")
	shutdown(log, srv, rn, set.ShutdownGrace)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown stops intake (requests under way get a few seconds to be
// answered), gives running jobs the grace period, then has the runner kill
// what is left of their commands.
func shutdown(log zerolog.Logger, srv *http.Server, rn *runner.Runner, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("connections still open at shutdown were closed")
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := rn.Close(ctx); err != nil {
		log.Warn().Dur("grace", grace).Msg("running jobs did not finish within the grace period: cancelled")
	}
	log.Info().Msg("wh-gitd stopped")
}
