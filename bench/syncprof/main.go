// Command syncprof profiles gitsync.Syncer.Sync in-process, for finding out
// why a git sync row of the harness is slow or large:
//
//	go run ./bench/syncprof -remote URL_OR_PATH -path WC [-depth 1] [-n 5] \
//	    [-between 'shell command run before each sync'] \
//	    [-cpuprofile cpu.out] [-memprofile mem.out]
//
// or measures what reading a working copy's whole tree costs through go-git
// storage opened as gitsync does and with other options:
//
//	go run ./bench/syncprof -read-tree -path WC [-keep-descriptors] [-object-cache 8]
//
// It prints each sync's wall time, the peak Go heap it reached, and the
// lines the sync wrote to its job log with their time offsets, so that the
// time of each phase (fetch, checkout, maintenance) shows. The profiles
// cover the syncs only (not the -between command, which runs in a child).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync"
)

type options struct {
	remote, path, ref, between, cpuprofile, memprofile string
	peakprofile                                        string
	depth, n, cacheMiB                                 int
	thin, readTree, keep                               bool
}

func main() {
	var o options
	flag.StringVar(&o.remote, "remote", "", "remote URL or path (required)")
	flag.StringVar(&o.path, "path", "", "working copy, absolute (required)")
	flag.StringVar(&o.ref, "ref", "refs/heads/main", "ref to sync")
	flag.IntVar(&o.depth, "depth", 1, "fetch depth (0: full history)")
	flag.IntVar(&o.n, "n", 1, "number of syncs (at most 1000)")
	flag.StringVar(&o.between, "between", "", "shell command run before each sync (e.g. push a commit)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the syncs here")
	flag.StringVar(&o.memprofile, "memprofile", "", "write an allocation profile here at the end")
	flag.StringVar(&o.peakprofile, "peakprofile", "", "write a heap profile (after a GC) here each time the heap grows 10% past its peak")
	flag.BoolVar(&o.readTree, "read-tree", false, "instead of syncing, read every blob of -path's HEAD tree through go-git and report the cost")
	flag.BoolVar(&o.keep, "keep-descriptors", false, "with -read-tree: open the storage with KeepDescriptors")
	flag.IntVar(&o.cacheMiB, "object-cache", 0, "with -read-tree: object cache size in MiB (0: go-git's default, 96)")
	flag.BoolVar(&o.thin, "thin", false, "experiment: let go-git ask for thin packs (go-git filters the thin-pack capability out by default)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "syncprof:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.readTree {
		return readTree(o.path, o.keep, o.cacheMiB)
	}
	if o.remote == "" || o.path == "" || o.n < 1 || o.n > 1000 {
		return fmt.Errorf("need -remote, -path and 1 ≤ -n ≤ 1000")
	}
	runtime.MemProfileRate = 64 << 10
	if o.thin {
		transport.UnsupportedCapabilities = []capability.Capability{capability.MultiACK, capability.MultiACKDetailed}
	}
	s := gitsync.New(zerolog.Nop())
	t := gitsync.Target{Remote: o.remote, Path: o.path, Ref: o.ref, Depth: o.depth, Timeout: 10 * time.Minute}
	var cpu io.WriteCloser
	for i := range o.n {
		if o.between != "" {
			if out, err := exec.Command("/bin/sh", "-c", o.between).CombinedOutput(); err != nil {
				return fmt.Errorf("-between: %v: %s", err, out)
			}
		}
		if o.cpuprofile != "" && cpu == nil {
			f, err := os.Create(o.cpuprofile)
			if err != nil {
				return err
			}
			cpu = f
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		if err := once(s, t, i, o.peakprofile); err != nil {
			return err
		}
		if cpu != nil && i == o.n-1 {
			pprof.StopCPUProfile()
			cpu.Close()
		}
	}
	if o.memprofile != "" {
		f, err := os.Create(o.memprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	return nil
}

// once runs one sync and prints what it took.
func once(s *gitsync.Syncer, t gitsync.Target, i int, peakprofile string) error {
	start := time.Now()
	peak := watchHeap(peakprofile)
	w := &stampWriter{start: start, out: os.Stdout}
	res, err := s.Sync(context.Background(), t, w)
	took := time.Since(start)
	if err != nil {
		peak()
		return fmt.Errorf("sync %d: %w", i, err)
	}
	// The runner maintains the object store after the job's commands.
	err = s.Maintain(context.Background(), t.Path, w)
	kept := time.Since(start) - took
	heap := peak()
	if err != nil {
		return fmt.Errorf("maintain %d: %w", i, err)
	}
	fmt.Printf("sync %d: %s + maintenance %s, peak heap %.1f MB, %s, %d written, %d removed\n\n", i,
		took.Round(time.Millisecond), kept.Round(time.Millisecond), float64(heap)/1e6, res.Commit[:12],
		res.Written, res.Removed)
	return nil
}

// watchHeap samples the Go heap every 5 ms until the returned function is
// called, which returns the largest value seen. With a profile path, the
// heap profile is written there whenever the heap grows 10% past its peak.
func watchHeap(profile string) func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if profile != "" && ms.HeapInuse > peak.Load()*11/10 && ms.HeapInuse > 8<<20 {
				writeHeap(profile)
			}
			peak.Store(max(peak.Load(), ms.HeapInuse))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); wg.Wait(); return peak.Load() }
}

// writeHeap collects garbage first, so that the profile shows what is live.
func writeHeap(path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

// stampWriter prefixes each job-log line with the time since start.
type stampWriter struct {
	start time.Time
	out   io.Writer
}

func (w *stampWriter) Write(p []byte) (int, error) {
	fmt.Fprintf(w.out, "  %7.1f ms  %s", float64(time.Since(w.start).Microseconds())/1000, p)
	return len(p), nil
}
