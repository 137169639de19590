package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// latencyRow measures the time from sending a delivery to the first
// configured command starting: each delivery first pushes a new commit to a
// local (file path) upstream of the small repository, so each job really
// fetches, checks out and then starts the stamp program, which records the
// time it started.
func latencyRow(ctx context.Context, e *benchEnv) row {
	name := "delivery → first command (small repo, file-path upstream, a new commit each)"
	dir := filepath.Join(e.tmp, "latency")
	up, tip, err := localUpstream(ctx, e, dir)
	if err != nil {
		return errRow(name, err)
	}
	lr := &latencyRun{e: e, up: up, prev: tip, stamps: filepath.Join(dir, "stamps"), secret: newSecret(), run: runID()}
	lr.rig, err = newRig(e, filepath.Join(dir, "daemon"), lr.secret, 64, []entry{{name: "site", remote: up,
		path: filepath.Join(dir, "wc"), depth: 1, branch: "main", commands: []any{[]string{e.bins.stamp, lr.stamps}}}})
	if err == nil {
		err = lr.rig.trigger(ctx, "site")
	}
	if err == nil {
		err = lr.rig.start(ctx)
	}
	if err != nil {
		return errRow(name, err)
	}
	defer lr.rig.stop()
	e.logf("delivery → first command, %d deliveries", e.cfg.latencyN)
	lr.api = newJobAPI(lr.rig)
	defer lr.api.close()
	for i := range e.cfg.latencyN {
		if err := lr.once(ctx, i); err != nil {
			return errRow(name, err)
		}
		time.Sleep(50 * time.Millisecond) // the job finishes: the next one never waits for it
	}
	startup, err := stampStartup(ctx, e.bins.stamp, filepath.Join(dir, "startup"), e.cfg.latencyN)
	if err != nil {
		return errRow(name, err)
	}
	p50 := lr.toCommand.quantile(0.5)
	return row{name: name, result: fmt.Sprintf("p50 %s · p99 %s (n=%d; answer p50 %s; job start p50 %s; "+
		"sync p50 %s; after the sync p50 %s, of which the stamp program's own start-up, "+
		"measured alone, p50 %s)",
		fmtDur(p50), fmtDur(lr.toCommand.quantile(0.99)), lr.toCommand.n, fmtDur(lr.toAnswer.quantile(0.5)),
		fmtDur(lr.start.quantile(0.5)), fmtDur(lr.sync.quantile(0.5)), fmtDur(lr.after.quantile(0.5)),
		fmtDur(startup.quantile(0.5))),
		target: "p50 ≤ 30 ms", met: yesNo(p50 <= 30*time.Millisecond)}
}

// stampStartup starts the stamp program n times from this process and
// measures the time from starting it to the clock it records: what the
// program itself adds to the row (the exec, and Go's start-up before its
// main reads the clock), not the daemon.
func stampStartup(ctx context.Context, bin, file string, n int) (*hist, error) {
	h := new(hist)
	for range n {
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, bin, file)
		cmd.Env = append(os.Environ(), "WH_SHA=startup")
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("stamp program: %w: %s", err, out)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		ts, _, _ := strings.Cut(string(b), " ")
		at, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stamp program wrote %q", b)
		}
		h.record(time.Duration(at - t0.UnixNano()))
	}
	return h, nil
}

// latencyRun is the state of the delivery → first command row.
type latencyRun struct {
	e                   *benchEnv
	rig                 *rig
	api                 *jobAPI
	up, prev, stamps    string
	secret              string
	run                 uint32
	toCommand, toAnswer hist
	// start is the time to the job's start (started of its record), sync
	// the job's sync (sync_ms), after the time from the sync's end to the
	// command's clock.
	start, sync, after hist
}

// once pushes a commit, sends its delivery and waits for the command.
func (lr *latencyRun) once(ctx context.Context, i int) error {
	shas, err := appendCommits(ctx, lr.up, lr.e.cfg.small, lr.e.env, 10_000+i, 1)
	if err != nil {
		return err
	}
	req, err := signedRequest(push{repository: "bench/site", ref: "refs/heads/main", before: lr.prev, after: shas[0]},
		lr.secret, deliveryID(lr.run, uint64(i)))
	if err != nil {
		return err
	}
	t0 := time.Now()
	id, err := lr.api.deliver(ctx, req)
	lr.toAnswer.record(time.Since(t0))
	if err != nil {
		return fmt.Errorf("delivery %d: %w", i, err)
	}
	at, err := waitStamp(ctx, lr.stamps, shas[0], 30*time.Second)
	if err != nil {
		return fmt.Errorf("%w; daemon log: %s", err, tail(lr.rig.d.log))
	}
	took := time.Duration(at - t0.UnixNano())
	lr.toCommand.record(took)
	rec, err := lr.api.wait(ctx, id, 30*time.Second)
	if err != nil {
		return err
	}
	start := rec.Started.Sub(t0)
	sync := time.Duration(rec.SyncMS) * time.Millisecond
	lr.start.record(max(start, 0))
	lr.sync.record(sync)
	lr.after.record(max(took-start-sync, 0))
	lr.prev = shas[0]
	return nil
}

// waitStamp waits for the stamp program to record sha in file and returns
// the Unix time in nanoseconds it recorded.
func waitStamp(ctx context.Context, file, sha string, limit time.Duration) (int64, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, _ := os.ReadFile(file)
		for _, l := range bytes.Split(b, []byte("\n")) {
			ts, s, ok := strings.Cut(string(l), " ")
			if ok && s == sha {
				return strconv.ParseInt(ts, 10, 64)
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no command started for %s within %s", sha[:12], limit)
}
