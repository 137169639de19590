package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// sample is one measured run of a program: wall time, peak resident memory
// and the bytes the git server sent for it.
type sample struct {
	wall  time.Duration
	rssKB int64
	bytes int64
}

// add combines two programs run one after the other.
func (s sample) add(o sample) sample {
	return sample{wall: s.wall + o.wall, rssKB: max(s.rssKB, o.rssKB), bytes: s.bytes + o.bytes}
}

// measure runs argv in dir as a cold process (e.env plus extraEnv), under
// the rusage helper,
// and returns its wall time and peak RSS: wait4's ru_maxrss of the child,
// which on Linux also covers every descendant the child waited for (git
// clone's index-pack, fetch-pack, remote-http), so it is the largest single
// process of the tree.
func (e *benchEnv) measure(ctx context.Context, dir string, timeout time.Duration, extraEnv []string,
	argv ...string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := os.CreateTemp(e.tmp, "rusage-")
	if err != nil {
		return sample{}, err
	}
	res.Close()
	defer os.Remove(res.Name())
	cmd := exec.CommandContext(ctx, e.bins.rusage, append([]string{res.Name()}, argv...)...)
	cmd.Dir, cmd.Env = dir, append(append([]string(nil), e.env...), extraEnv...)
	out := &capped{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out.String())
	}
	b, err := os.ReadFile(res.Name())
	if err != nil {
		return sample{}, err
	}
	var wall, kb int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &wall, &kb); err != nil {
		return sample{}, fmt.Errorf("%s: rusage result %q: %v", argv[0], b, err)
	}
	if kb > 1<<30 { // over 1 TiB: a kernel accounting glitch seen once on this VM
		e.logf("implausible ru_maxrss %d KiB for %s: left out of the median", kb, argv[0])
		kb = -1
	}
	return sample{wall: time.Duration(wall), rssKB: kb}, nil
}

// capped keeps the first max bytes written to it.
type capped struct {
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string { return strings.TrimSpace(string(c.b)) }

// median of samples, field by field.
func median(ss []sample) sample {
	if len(ss) == 0 {
		return sample{}
	}
	pick := func(f func(sample) int64) int64 {
		var v []int64
		for _, s := range ss {
			if f(s) >= 0 {
				v = append(v, f(s))
			}
		}
		if len(v) == 0 {
			return -1
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		wall:  time.Duration(pick(func(s sample) int64 { return int64(s.wall) })),
		rssKB: pick(func(s sample) int64 { return s.rssKB }),
		bytes: pick(func(s sample) int64 { return s.bytes }),
	}
}
