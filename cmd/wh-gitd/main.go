// Command wh-gitd is the webhook daemon: it verifies GitHub, GitLab and Gogs
// deliveries, answers at once, and in the background brings the matching
// working copy to the pushed commit and runs the configured commands.
//
//	wh-gitd [flags] settings.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/settings"
)

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
// and the shutdown is done, or when a listener fails.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, pos, err := parseFlags(args, stderr)
	switch {
	case err != nil:
		return err
	case f.version:
		fmt.Fprintln(stdout, "wh-gitd", cli.Version())
		return nil
	case len(pos) != 1:
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
	return serveDaemon(ctx, pos[0], set, stdout)
}

func parseFlags(args []string, stderr io.Writer) (flags, []string, error) {
	var f flags
	fs := flag.NewFlagSet("wh-gitd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.BoolVar(&f.check, "check", false, "validate the settings file and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	pos, err := cli.Parse(fs, args)
	return f, pos, err
}

// serveDaemon serves with settings set (read from path, and again on SIGHUP),
// logging to stdout, until ctx is done.
func serveDaemon(ctx context.Context, path string, set *settings.Settings, stdout io.Writer) error {
	// Catch SIGHUP before anything can announce the daemon: its default
	// action would kill a daemon reloaded right after it said it was ready.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := cli.Logger(set.Log, stdout)
	svc, err := open(set, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx, hup, path)
}
