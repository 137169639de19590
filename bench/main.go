// Command bench is wh-gitd's benchmark harness:
//
//	go run ./bench            # the full run, about 15 minutes on 2 cores
//	go run ./bench -smoke     # every row for about a second, tiny repositories
//
// It builds the real binaries (wh-gitd, wh-git-trigger) into a temp dir,
// starts them on 127.0.0.1 only, drives them with its own load generator
// (net/http, one keep-alive client per connection, latencies in a small
// HDR-style histogram) and prints one Markdown table: intake rate and
// answer times, memory, delivery-to-command latency, git sync against the
// git CLI (over smart HTTP served by git http-backend in this process), and
// coalescing of a burst of pushes. Every loop is bounded in count and time.
// It is not part of the test suite; bench_test.go runs the smoke mode.
// Linux only (/proc, wait4's rusage, Pdeathsig); BENCHMARKS.md has the
// results and what limits each row.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	smoke, short, keep, gctrace bool
	src, cache, only, env       string
	client                      string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.smoke, "smoke", false, "run every row for about a second with tiny repositories")
	fs.BoolVar(&o.short, "short", false, "with -smoke: shorter still (what go test -short runs)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (working copies, daemon logs, job logs)")
	fs.BoolVar(&o.gctrace, "gctrace", false, "run the daemons with GODEBUG=gctrace=1 (in their daemon.log)")
	fs.StringVar(&o.src, "src", "", "module to build wh-gitd and wh-git-trigger from (default: this one)")
	fs.StringVar(&o.cache, "cache", "", "folder of generated upstreams, kept between runs (default: $TMPDIR/wh-gitd-bench-cache)")
	fs.StringVar(&o.env, "env", "", "comma-separated KEY=VALUE added to the environment of wh-gitd and wh-git-trigger (e.g. GOGC=50)")
	fs.StringVar(&o.client, "client", "raw", "load generator's HTTP client: raw (requests written and answers read by hand) or net/http")
	fs.StringVar(&o.only, "only", "", "comma-separated row groups to run: intake,latency,sync,burst,metrics (default: all)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.client != "raw" && o.client != "net/http" {
		return o, fmt.Errorf("-client %q: expected raw or net/http", o.client)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// benchEnv is what every row needs.
type benchEnv struct {
	cfg  config
	bins binaries
	tmp  string   // this run's folder
	home string   // HOME of every child
	env  []string // environment of every child
	log  io.Writer
	t0   time.Time
	src  string // the module wh-gitd was built from
	// discarded counts the working copies moved aside by discard.
	discarded atomic.Int64
}

// discard empties the way for a first clone at path: it moves what is
// there into the run's folder, which is removed when the run ends. Deleting
// it instead would make the clone that follows measure the file system's
// handling of many recent deletes: on an ext4 without a journal, such as
// this machine's root, a file created within a minute of many deletes
// walks past every inode they freed ("This machine's file system" in
// BENCHMARKS.md), and that is the harness's work, not the tool's.
func (e *benchEnv) discard(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	aside := filepath.Join(e.tmp, "discarded")
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return err
	}
	return os.Rename(path, filepath.Join(aside, strconv.FormatInt(e.discarded.Add(1), 10)))
}

func (e *benchEnv) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "bench: %6.1fs "+format+"\n", append([]any{time.Since(e.t0).Seconds()}, args...)...)
}

// group is a set of rows measured together.
type group struct {
	name string
	rows func(context.Context, *benchEnv) []row
}

func groups() []group {
	return []group{
		{"intake", intakeRows},
		{"latency", func(ctx context.Context, e *benchEnv) []row { return []row{latencyRow(ctx, e)} }},
		{"sync", syncRows},
		{"burst", func(ctx context.Context, e *benchEnv) []row { return []row{burstRow(ctx, e)} }},
		{"metrics", metricsRows},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg := fullConfig()
	if o.smoke {
		cfg = smokeConfig(o.short)
	}
	cfg.gctrace = o.gctrace
	cfg.netHTTP = o.client == "net/http"
	if o.env != "" {
		cfg.env = strings.Split(o.env, ",")
	}
	if o.cache != "" {
		cfg.cacheDir = o.cache
	}
	return runConfig(ctx, cfg, o, stdout, stderr)
}

// runConfig builds the binaries (bounded on its own: a cold build cache
// takes half a minute), then runs the row groups within cfg.deadline and
// prints the table.
func runConfig(ctx context.Context, cfg config, o options, stdout, stderr io.Writer) error {
	start := time.Now()
	e, cleanup, err := setup(ctx, cfg, o, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	rctx, cancel := context.WithTimeout(ctx, cfg.deadline)
	rows, loads := runGroups(rctx, e, o.only)
	cancel()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gitVersion, _ := git(hctx, e.tmp, e.env, nil, "--version")
	fmt.Fprintf(stdout, "wh-gitd benchmark, %s run (`go run ./bench%s`), %s, took %s\n\n", cfg.name, flagsUsed(o),
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(start).Round(time.Second))
	fmt.Fprintf(stdout, "Machine: %s.\n", machine(gitVersion))
	fmt.Fprintf(stdout, "Built from: %s.\n", revision(hctx, e))
	fmt.Fprintf(stdout, "Other processes on the machine (not this run's) used on average, in cores: %s.\n",
		strings.Join(loads, ", "))
	client := "requests written and answers read by hand (rawConn)"
	if cfg.netHTTP {
		client = "net/http's client"
	}
	fmt.Fprintf(stdout, "Load generator: this harness, %s, one keep-alive connection per connection, on the same "+
		"machine as the daemon; times to the answer in a log-bucketed HDR-style histogram (1.6 %% buckets).\n\n", client)
	printTable(stdout, rows)
	var failed []string
	for _, r := range rows {
		if r.met == "error" {
			failed = append(failed, r.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d rows failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// runGroups runs the row groups named in only (all if empty), each on a
// quiet machine if it gets quiet in time, and returns their rows and the
// load other processes put on the machine during each.
func runGroups(ctx context.Context, e *benchEnv, only string) ([]row, []string) {
	var rows []row
	var loads []string
	for _, g := range groups() {
		if only != "" && !strings.Contains(","+only+",", ","+g.name+",") {
			continue
		}
		if e.cfg.quietWait > 0 {
			waitQuiet(e, 0.25, e.cfg.quietWait)
		}
		clock := readCPUClock()
		rows = append(rows, g.rows(ctx, e)...)
		load := clock.otherLoad()
		loads = append(loads, fmtLoad(g.name, load))
		e.logf("%s done; other processes on the machine used %.2f cores meanwhile", g.name, load)
	}
	return rows, loads
}

// setup makes the run's temp dir and builds the binaries into it.
func setup(ctx context.Context, cfg config, o options, stderr io.Writer) (*benchEnv, func(), error) {
	tmp, err := os.MkdirTemp("", "wh-gitd-bench-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		if o.keep {
			fmt.Fprintf(stderr, "bench: kept %s\n", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	}
	e := &benchEnv{cfg: cfg, tmp: tmp, home: filepath.Join(tmp, "home"), log: stderr, t0: time.Now()}
	e.env = childEnv(e.home)
	if err := os.MkdirAll(e.home, 0o755); err != nil {
		cleanup()
		return nil, nil, err
	}
	wd, _ := os.Getwd()
	self, err := moduleRoot(ctx, wd)
	src := o.src
	if src == "" {
		src = self
	}
	e.src = src
	if err == nil {
		e.logf("building wh-gitd and wh-git-trigger from %s into %s", src, tmp)
		e.bins, err = buildBinaries(ctx, src, self, filepath.Join(tmp, "bin"))
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return e, cleanup, nil
}

// revision names the commit the binaries were built from.
func revision(ctx context.Context, e *benchEnv) string {
	head, err := git(ctx, e.src, e.env, nil, "rev-parse", "--short", "HEAD")
	if err != nil {
		return e.src + " (not a git checkout)"
	}
	if st, _ := git(ctx, e.src, e.env, nil, "status", "--porcelain", "--untracked-files=no"); st != "" {
		head += " plus uncommitted changes"
	}
	return e.src + " at " + head
}

func flagsUsed(o options) string {
	var f []string
	if o.smoke {
		f = append(f, " -smoke")
	}
	if o.short {
		f = append(f, " -short")
	}
	if o.only != "" {
		f = append(f, " -only "+o.only)
	}
	if o.src != "" {
		f = append(f, " -src "+o.src)
	}
	if o.env != "" {
		f = append(f, " -env "+o.env)
	}
	if o.client != "" && o.client != "raw" {
		f = append(f, " -client "+o.client)
	}
	return strings.Join(f, "")
}
