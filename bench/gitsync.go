package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// syncBench compares wh-git-trigger (cold process, real binary, a trivial
// command) with the git CLI on one upstream served over smart HTTP, at one
// depth, scenario by scenario.
type syncBench struct {
	e     *benchEnv
	srv   *gitServer
	shape shape
	repo  string // the run's bare upstream
	url   string
	depth int
	reps  int
	dir   string
	seq   int // commits appended so far
	force int // force-pushes so far
	wh    syncSide
	git   syncSide
	// daemon is wh-gitd itself, running, driven by deliveries.
	daemon *daemonSide
}

// syncSide is one tool: how it makes its working copy and how it syncs it.
type syncSide struct {
	wc    string
	clone func(ctx context.Context) (sample, error)
	sync  func(ctx context.Context) (sample, error)
}

// scenario is one measured comparison.
type scenario struct {
	name            string
	wh, git, daemon sample
	err             error
}

func newSyncBench(e *benchEnv, srv *gitServer, s shape, repo string, depth, reps int) (*syncBench, error) {
	b := &syncBench{e: e, srv: srv, shape: s, repo: repo, url: srv.repoURL(filepath.Base(repo)),
		depth: depth, reps: reps, dir: filepath.Join(e.tmp, fmt.Sprintf("sync-%s-d%d", s.name, depth))}
	if err := os.MkdirAll(filepath.Join(b.dir, "trigger"), 0o755); err != nil {
		return nil, err
	}
	b.wh.wc, b.git.wc = filepath.Join(b.dir, "wh-wc"), filepath.Join(b.dir, "git-wc")
	settings, err := daemonSettings(filepath.Join(b.dir, "trigger"), "127.0.0.1:0", newSecret(), 1, 16,
		[]entry{{name: "site", remote: b.url, path: b.wh.wc, depth: depth, branch: "main",
			commands: []any{[]string{"true"}}}})
	if err != nil {
		return nil, err
	}
	timeout := 15 * time.Minute
	trigger := func(ctx context.Context) (sample, error) {
		return e.measure(ctx, b.dir, timeout, e.cfg.env, e.bins.trigger, settings, "site")
	}
	b.wh.clone, b.wh.sync = b.fresh(b.wh.wc, trigger), trigger
	cloneArgs := []string{"git", "clone", "--quiet", "--single-branch", "-b", "main"}
	fetchArgs := []string{"git", "-C", b.git.wc, "fetch", "--quiet", "origin", "main"}
	if depth > 0 {
		cloneArgs = append(cloneArgs, fmt.Sprintf("--depth=%d", depth))
		fetchArgs = append(fetchArgs, fmt.Sprintf("--depth=%d", depth))
	}
	b.git.clone = b.fresh(b.git.wc, func(ctx context.Context) (sample, error) {
		return e.measure(ctx, b.dir, timeout, nil, append(cloneArgs, b.url, b.git.wc)...)
	})
	b.git.sync = func(ctx context.Context) (sample, error) {
		f, err := e.measure(ctx, b.dir, timeout, nil, fetchArgs...)
		if err != nil {
			return f, err
		}
		r, err := e.measure(ctx, b.dir, timeout, nil, "git", "-C", b.git.wc, "reset", "--quiet", "--hard", "FETCH_HEAD")
		return f.add(r), err
	}
	return b, nil
}

// fresh wraps a clone: the working copy is moved aside first.
func (b *syncBench) fresh(wc string, clone func(context.Context) (sample, error)) func(context.Context) (sample, error) {
	return func(ctx context.Context) (sample, error) {
		if err := b.e.discard(wc); err != nil {
			return sample{}, err
		}
		return clone(ctx)
	}
}

// counted runs f and adds the bytes the git server sent meanwhile.
func (b *syncBench) counted(ctx context.Context, f func(context.Context) (sample, error)) (sample, error) {
	before := b.srv.sent.Load()
	s, err := f(ctx)
	s.bytes = b.srv.sent.Load() - before
	return s, err
}

// compare runs prep, then the tools (in rotating order), reps times, and
// returns the medians. The order matters on some file systems: ext4
// without a journal (this machine's) scans past every inode freed in the
// last minute to create a file, so a first clone made after the other
// tools deleted their working copies pays for their deletes too. With
// reps a multiple of three, each tool takes each place equally often.
func (b *syncBench) compare(ctx context.Context, name string, prep func(ctx context.Context) error,
	wh, git, daemon func(context.Context) (sample, error)) scenario {
	sc := scenario{name: name}
	var whs, gits, daemons []sample
	for i := range b.reps {
		if prep != nil {
			if sc.err = prep(ctx); sc.err != nil {
				return sc
			}
		}
		order := []func() error{
			func() error { s, err := b.counted(ctx, wh); whs = append(whs, s); return err },
			func() error { s, err := b.counted(ctx, git); gits = append(gits, s); return err },
			func() error { s, err := b.counted(ctx, daemon); daemons = append(daemons, s); return err },
		}
		for k := range order {
			if sc.err = order[(k+i)%len(order)](); sc.err != nil {
				return sc
			}
		}
	}
	sc.wh, sc.git, sc.daemon = median(whs), median(gits), median(daemons)
	sc.err = b.same(ctx)
	b.e.logf("  %-44s wh %s | git %s | daemon %s", name, fmtSample(sc.wh), fmtSample(sc.git), fmtDur(sc.daemon.wall))
	return sc
}

// same checks that both working copies are at the upstream's tip of main.
func (b *syncBench) same(ctx context.Context) error {
	want, err := git(ctx, b.repo, b.e.env, nil, "rev-parse", "refs/heads/main")
	if err != nil {
		return err
	}
	for _, wc := range []string{b.wh.wc, b.git.wc, b.daemon.wc} {
		got, err := git(ctx, wc, b.e.env, nil, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s is at %s, upstream main at %s", wc, got, want)
		}
	}
	return nil
}

// push adds 20 commits to main upstream; refs/bench/tip follows main.
func (b *syncBench) push(ctx context.Context) error {
	_, err := appendCommits(ctx, b.repo, b.shape, b.e.env, b.seq+1, 20)
	b.seq += 20
	if err != nil {
		return err
	}
	_, err = git(ctx, b.repo, b.e.env, nil, "update-ref", "refs/bench/tip", "refs/heads/main")
	return err
}

// run measures every scenario of this depth.
func (b *syncBench) run(ctx context.Context) []scenario {
	d := "depth 1"
	if b.depth == 0 {
		d = "full history"
	}
	dm := b.daemon
	out := []scenario{b.compare(ctx, "first clone, "+d, nil, b.wh.clone, b.git.clone, dm.clone)}
	if out[0].err != nil {
		return out
	}
	out = append(out, b.compare(ctx, "incremental (+20 commits), "+d, b.push, b.wh.sync, b.git.sync, dm.sync))
	out = append(out, b.compare(ctx, "no-op, "+d, nil, b.wh.sync, b.git.sync, dm.sync))
	if b.depth == 0 {
		return append(out, b.series(ctx))
	}
	out = append(out, b.compare(ctx, "force-push to an older unrelated commit, "+d, b.forcePush, b.wh.sync, b.git.sync, dm.sync))
	if err := b.restore(ctx); err != nil {
		return append(out, scenario{name: "restore main", err: err})
	}
	if err := b.nodeModules(); err != nil {
		return append(out, scenario{name: "node_modules", err: err})
	}
	out = append(out, b.compare(ctx, fmt.Sprintf("node_modules/ (%d ignored files) + 20 commits, %s",
		b.e.cfg.nodeModules, d), b.push, b.wh.sync, b.git.sync, dm.sync))
	return out
}

// forcePush moves main to a commit of branch old, which forked from main
// long ago: an older commit that is neither an ancestor nor a descendant of
// the working copies' commit, and a different one at each repetition (old,
// old~1, ...), so that neither tool has it already. It first puts main back
// at its tip (synced by both, not measured) after the previous repetition.
func (b *syncBench) forcePush(ctx context.Context) error {
	if err := b.restore(ctx); err != nil {
		return err
	}
	target := fmt.Sprintf("refs/heads/old~%d", b.force%b.shape.sideCommits)
	b.force++
	_, err := git(ctx, b.repo, b.e.env, nil, "update-ref", "refs/heads/main", target)
	return err
}

// restore points main back at the newest commit and syncs both tools.
func (b *syncBench) restore(ctx context.Context) error {
	if _, err := git(ctx, b.repo, b.e.env, nil, "update-ref", "refs/heads/main", "refs/bench/tip"); err != nil {
		return err
	}
	if _, err := b.wh.sync(ctx); err != nil {
		return err
	}
	if _, err := b.daemon.sync(ctx); err != nil {
		return err
	}
	_, err := b.git.sync(ctx)
	return err
}

// nodeModules fills node_modules/ (ignored by the repository's .gitignore)
// of both working copies with small files.
func (b *syncBench) nodeModules() error {
	for _, wc := range []string{b.wh.wc, b.git.wc, b.daemon.wc} {
		for i := range b.e.cfg.nodeModules {
			dir := filepath.Join(wc, "node_modules", fmt.Sprintf("pkg%03d", i%200), "lib")
			if i < 200 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			body := fmt.Sprintf("module.exports = function f%d(x) { return x + %d }\n", i, i)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.js", i)), []byte(body), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncRows runs the git sync comparison for every shape and depth.
func syncRows(ctx context.Context, e *benchEnv) []row {
	root := filepath.Join(e.tmp, "upstreams")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return []row{errRow("git sync", err)}
	}
	srv, err := startGitServer(ctx, root, e.env)
	if err != nil {
		return []row{errRow("git sync", err)}
	}
	defer srv.close()
	var rows []row
	for _, s := range []shape{e.cfg.small, e.cfg.large} {
		for _, depth := range e.cfg.depths {
			rows = append(rows, syncShape(ctx, e, srv, root, s, depth)...)
		}
	}
	return rows
}

func syncShape(ctx context.Context, e *benchEnv, srv *gitServer, root string, s shape, depth int) []row {
	label := fmt.Sprintf("git sync %s", s.name)
	repo, err := runUpstream(ctx, e, s, filepath.Join(root, fmt.Sprintf("%s-d%d.git", s.name, depth)))
	if err != nil {
		return []row{errRow(label, err)}
	}
	if _, err := git(ctx, repo, e.env, nil, "update-ref", "refs/bench/tip", "refs/heads/main"); err != nil {
		return []row{errRow(label, err)}
	}
	reps := e.cfg.reps
	switch {
	case s.name == e.cfg.large.name && depth == 0:
		reps = e.cfg.repsLargeFull
	case s.name == e.cfg.large.name:
		reps = e.cfg.repsLarge
	}
	b, err := newSyncBench(e, srv, s, repo, depth, reps)
	if err == nil {
		b.daemon, err = startDaemonSide(ctx, b)
	}
	if err != nil {
		return []row{errRow(label, err)}
	}
	defer b.daemon.stop()
	e.logf("git sync %s (%d files, %d commits), depth %d, %d repetitions", s.name, s.files(), s.commits, depth, reps)
	var rows, inDaemon []row
	for _, sc := range b.run(ctx) {
		rows = append(rows, syncRow(label+": "+sc.name, sc))
		inDaemon = append(inDaemon, daemonRow(fmt.Sprintf("git sync %s in the daemon: %s", s.name, sc.name), sc))
	}
	return append(rows, inDaemon...)
}

// runUpstream makes this run's copy of the cached upstream of s (objects
// hard-linked, so the cache itself is never changed).
func runUpstream(ctx context.Context, e *benchEnv, s shape, dst string) (string, error) {
	e.logf("upstream %s: generating or reusing the cached one", s.name)
	start := time.Now()
	src, err := ensureUpstream(ctx, e.cfg.cacheDir, s, e.env)
	if err != nil {
		return "", err
	}
	e.logf("upstream %s ready in %s: %s", s.name, time.Since(start).Round(time.Millisecond), src)
	_, err = git(ctx, filepath.Dir(dst), e.env, nil, "clone", "--quiet", "--bare", src, dst)
	return dst, err
}

func fmtSample(s sample) string {
	return fmt.Sprintf("%s · %s · %s fetched", fmtDur(s.wall), fmtMB(s.rssKB<<10), fmtMB(s.bytes))
}

func syncRow(name string, sc scenario) row {
	if sc.err != nil {
		return errRow(name, sc.err)
	}
	rt := float64(sc.wh.wall) / float64(max(sc.git.wall, 1))
	rm := float64(sc.wh.rssKB) / float64(max(sc.git.rssKB, 1))
	return row{name: name, result: fmtSample(sc.wh), git: fmtSample(sc.git),
		ratio:  fmt.Sprintf("%.2f× time · %.2f× memory", rt, rm),
		target: "≤ 1.0× time · ≤ 2× memory", met: yesNo(rt <= 1.0 && rm <= 2.0)}
}
