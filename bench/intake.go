package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// intakeCase is one kind of delivery the intake rows send.
type intakeCase struct {
	name   string
	ref    string
	status int // the answer every delivery should get
}

// intakeRows measures the answer to signed 7 KB push deliveries at each
// number of connections, for accepted deliveries (configured branch: 202,
// coalesced into one waiting job) and ignored ones (unconfigured branch:
// 200), and the daemon's memory: idle, and its peak under 64 connections.
func intakeRows(ctx context.Context, e *benchEnv) []row {
	dir := filepath.Join(e.tmp, "intake")
	up, tip, err := localUpstream(ctx, e, dir)
	if err != nil {
		return []row{errRow("intake", err)}
	}
	secret := newSecret()
	entries := []entry{
		{name: "site", remote: up, path: filepath.Join(dir, "wc-site"), depth: 1, branch: "main",
			commands: []any{[]string{e.bins.stamp, filepath.Join(dir, "runs")}}},
		{name: "other", remote: up, path: filepath.Join(dir, "wc-other"), depth: 1, branch: "main",
			commands: []any{[]string{"true"}}},
	}
	pre, err := newRig(e, filepath.Join(dir, "pre"), secret, 16, entries)
	if err == nil {
		err = pre.trigger(ctx, "site")
	}
	if err != nil {
		return []row{errRow("intake", fmt.Errorf("clone the working copy: %w", err))}
	}
	cases := []intakeCase{
		{"accepted (202)", "refs/heads/main", http.StatusAccepted},
		{"ignored, unconfigured branch (200)", "refs/heads/feature/not-deployed", http.StatusOK},
	}
	var rows, mem []row
	for _, c := range cases {
		for _, conns := range e.cfg.conns {
			r, m := intakeRun(ctx, e, filepath.Join(dir, fmt.Sprintf("run-%d-%d", c.status, conns)),
				secret, entries, c, conns, tip, len(rows) == 0)
			rows = append(rows, r)
			mem = append(mem, m...)
		}
	}
	return append(rows, mem...)
}

// intakeRun starts a fresh daemon, measures its idle memory if asked,
// drives it with conns connections and reads its peak memory.
func intakeRun(ctx context.Context, e *benchEnv, dir, secret string, entries []entry, c intakeCase,
	conns int, tip string, idle bool) (row, []row) {
	name := fmt.Sprintf("intake %s, %d conn", c.name, conns)
	rg, err := newRig(e, dir, secret, 4096, entries)
	if err == nil {
		err = rg.start(ctx)
	}
	if err != nil {
		return errRow(name, err), nil
	}
	defer rg.stop()
	var mem []row
	if idle {
		mem = append(mem, idleRow(ctx, rg, e.cfg.idleWait))
	}
	req, err := signedRequest(push{repository: "bench/site", ref: c.ref, before: tip, after: tip}, secret, "")
	if err != nil {
		return errRow(name, err), mem
	}
	runsFile := filepath.Join(filepath.Dir(dir), "runs")
	before := countLines(runsFile)
	run := runID()
	e.logf("intake %s, %d connections, %s", c.name, conns, e.cfg.intake)
	cpu := sampleCPU(rg.d, e.cfg.warmup, e.cfg.intake)
	res, err := runLoad(ctx, loadSpec{url: rg.hookURL("site"), conns: conns, warmup: e.cfg.warmup,
		duration: e.cfg.intake, signer: signer{[]byte(secret)}, netHTTP: e.cfg.netHTTP,
		next: func(seq uint64) request { r := req; r.delivery = deliveryID(run, seq); return r }})
	if err != nil {
		return errRow(name, err), mem
	}
	r := intakeRow(name, res, c, conns)
	r.result += fmt.Sprintf(" · %d job runs", countLines(runsFile)-before)
	if used := <-cpu; used.err == nil && res.requests > 0 {
		r.result += fmt.Sprintf(" · CPU a request: daemon %d µs, load generator %d µs",
			(used.daemon / time.Duration(res.requests)).Microseconds(), (used.self / time.Duration(res.requests)).Microseconds())
	}
	if conns == slices.Max(e.cfg.conns) {
		_, hwm, err := rg.d.memory()
		m := row{name: fmt.Sprintf("memory peak (VmHWM), intake %s at %d conns", c.name, conns),
			result: fmtMB(hwm << 10), target: "report", met: "-"}
		if err != nil {
			m = errRow(m.name, err)
		}
		mem = append(mem, m)
	}
	return r, mem
}

// idleRow reads the daemon's resident memory after it has been idle.
func idleRow(ctx context.Context, rg *rig, wait time.Duration) row {
	name := "memory idle (VmRSS), 2 repos configured"
	select {
	case <-ctx.Done():
		return errRow(name, ctx.Err())
	case <-time.After(wait):
	}
	rss, _, err := rg.d.memory()
	if err != nil {
		return errRow(name, err)
	}
	return row{name: fmt.Sprintf("%s, %s after start", name, wait), result: fmtMB(rss << 10),
		target: "≤ 10.5 MB", met: yesNo(rss<<10 <= 10_500_000)}
}

func intakeRow(name string, res *loadResult, c intakeCase, conns int) row {
	var codes []string
	for _, k := range slices.Sorted(maps.Keys(res.status)) {
		codes = append(codes, fmt.Sprintf("%s×%d", fmtCount(res.status[k]), k))
	}
	r := row{name: name, result: fmt.Sprintf("%s/s · p50 %s · p99 %s · %s · %s errors",
		fmtCount(uint64(res.rate()+0.5)), fmtDur(res.hist.quantile(0.50)), fmtDur(res.hist.quantile(0.99)),
		strings.Join(codes, " "), fmtCount(res.errors)), target: "report", met: "-"}
	if res.firstErr != "" {
		r.result += " (first: " + res.firstErr + ")"
	}
	wrong := res.requests - res.status[c.status]
	switch {
	case c.status == http.StatusAccepted && conns == 8:
		r.target, r.met = "≥ 3,200/s", yesNo(res.rate() >= 3200 && wrong == 0)
	case conns == 64:
		r.target, r.met = "p99 ≤ 20 ms", yesNo(res.hist.quantile(0.99) <= 20*time.Millisecond && wrong == 0)
	}
	if wrong > 0 && r.met != "-" {
		r.met = "NO"
	}
	return r
}

// cpuUsed is the CPU time the daemon and this process (the load generator,
// with the harness's few other goroutines) used over a row's counted time.
type cpuUsed struct {
	daemon, self time.Duration
	err          error
}

// sampleCPU reads both CPU times after warmup and again after duration
// more, as runLoad counts its requests, and sends the difference: on two
// cores shared by both, where each one's time goes.
func sampleCPU(d *daemon, warmup, duration time.Duration) <-chan cpuUsed {
	out := make(chan cpuUsed, 1)
	start := time.Now()
	go func() {
		read := func() (daemonCPU, self time.Duration, err error) {
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return 0, 0, err
			}
			daemonCPU, err = d.cpuTime()
			return daemonCPU, time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), err
		}
		time.Sleep(time.Until(start.Add(warmup)))
		d0, s0, err0 := read()
		time.Sleep(time.Until(start.Add(warmup + duration)))
		d1, s1, err1 := read()
		out <- cpuUsed{daemon: d1 - d0, self: s1 - s0, err: errors.Join(err0, err1)}
	}()
	return out
}
