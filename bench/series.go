package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// series syncs each tool (and the running daemon) b.e.cfg.series times in
// a row at full history, each after 20 new commits, and keeps the slowest
// sync of each and the highest peak memory: what a job waits for when the object store needs
// upkeep (wh-gitd merges its packs past 24, after the job's commands;
// git's fetch runs its own automatic maintenance).
func (b *syncBench) series(ctx context.Context) scenario {
	n := b.e.cfg.series
	sc := scenario{name: fmt.Sprintf("%d syncs in a row (+20 commits each), full history: the slowest", n)}
	var whs, gits, daemons []sample
	for i := range n {
		if sc.err = b.push(ctx); sc.err != nil {
			return sc
		}
		order := []struct {
			f   func(context.Context) (sample, error)
			out *[]sample
		}{{b.wh.sync, &whs}, {b.git.sync, &gits}, {b.daemon.sync, &daemons}}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, o := range order {
			s, err := b.counted(ctx, o.f)
			if sc.err = err; err != nil {
				return sc
			}
			*o.out = append(*o.out, s)
		}
	}
	sc.wh, sc.git, sc.daemon = slowest(whs), slowest(gits), slowest(daemons)
	sc.err = b.same(ctx)
	b.e.logf("  %-44s wh %s | git %s | daemon %s", sc.name, fmtSample(sc.wh), fmtSample(sc.git), fmtDur(sc.daemon.wall))
	for _, t := range []struct {
		name string
		ss   []sample
	}{{"wh", whs}, {"git", gits}, {"daemon", daemons}} {
		b.e.logf("    each sync of %s, in order (ms): %s", t.name, walls(t.ss))
	}
	return sc
}

// walls lists the samples' times in milliseconds.
func walls(ss []sample) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.FormatInt(s.wall.Milliseconds(), 10)
	}
	return strings.Join(out, " ")
}

// slowest is the longest sample, with the highest peak memory of all.
func slowest(ss []sample) sample {
	var out sample
	for _, s := range ss {
		if s.wall > out.wall {
			out.wall, out.bytes = s.wall, s.bytes
		}
		out.rssKB = max(out.rssKB, s.rssKB)
	}
	return out
}
