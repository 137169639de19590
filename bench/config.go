package main

import (
	"os"
	"path/filepath"
	"time"
)

// config is everything a run measures and how long it takes: fullConfig is
// `go run ./bench`, smokeConfig the seconds-long check of every row.
type config struct {
	name         string
	deadline     time.Duration // the whole run
	conns        []int         // intake: connections per row
	warmup       time.Duration // intake: not counted, per row
	intake       time.Duration // intake: counted, per row
	idleWait     time.Duration // idle memory is read this long after start
	latencyN     int           // deliveries of the delivery → command row
	burstN       int           // pushes of the burst row
	burstConns   int
	small, large shape
	depths       []int // git sync depths compared (1 = wh-gitd's default)
	// reps: repetitions of each git sync scenario (median reported), a
	// multiple of the three tools, so that each goes first, second and
	// last as often as the others (see syncBench.compare).
	reps          int
	repsLarge     int // the same for the large repository
	repsLargeFull int // the same for the large repository's full-history scenarios
	nodeModules   int // ignored files in node_modules/
	series        int // full-history syncs in a row (the slowest is reported)
	cacheDir      string
	gctrace       bool
	netHTTP       bool          // the load generator sends with net/http's client (-client net/http)
	env           []string      // added to wh-gitd's and wh-git-trigger's environment
	quietWait     time.Duration // before each group, wait this long at most for a quiet machine
}

func fullConfig() config {
	return config{
		name: "full", deadline: 40 * time.Minute,
		conns: []int{1, 8, 64}, warmup: 500 * time.Millisecond, intake: 3 * time.Second,
		idleWait: 3 * time.Second, latencyN: 40, burstN: 1000, burstConns: 16,
		small: shape{name: "small", baseFiles: 100, commits: 300, addEvery: 3, editFiles: 2, lines: 40,
			assets: 4, assetSize: 24 << 10, assetEvery: 50, sideAt: 150, sideCommits: 5},
		large: shape{name: "large", baseFiles: 15000, commits: 5000, addEvery: 1, editFiles: 3, lines: 40,
			assets: 40, assetSize: 224 << 10, assetEvery: 4, sideAt: 2000, sideCommits: 10},
		depths: []int{1, 0}, reps: 9, repsLarge: 6, repsLargeFull: 3, nodeModules: 20_000, series: 30,
		cacheDir: defaultCache(), quietWait: 2 * time.Minute,
	}
}

// smokeConfig runs every row for about a second with tiny repositories;
// short (go test -short) cuts it further.
func smokeConfig(short bool) config {
	c := config{
		name: "smoke", deadline: 3 * time.Minute,
		conns: []int{1, 8, 64}, warmup: 100 * time.Millisecond, intake: 700 * time.Millisecond,
		idleWait: time.Second, latencyN: 5, burstN: 100, burstConns: 16,
		small: shape{name: "small", baseFiles: 20, commits: 30, addEvery: 3, editFiles: 2, lines: 20,
			assets: 2, assetSize: 4 << 10, assetEvery: 10, sideAt: 15, sideCommits: 2},
		large: shape{name: "large", baseFiles: 150, commits: 60, addEvery: 2, editFiles: 3, lines: 30,
			assets: 4, assetSize: 16 << 10, assetEvery: 5, sideAt: 30, sideCommits: 3},
		depths: []int{1, 0}, reps: 1, repsLarge: 1, repsLargeFull: 1, nodeModules: 300, series: 3,
		cacheDir: defaultCache(),
	}
	if short {
		c.name = "smoke (short)"
		c.warmup, c.intake, c.idleWait = 50*time.Millisecond, 250*time.Millisecond, 200*time.Millisecond
		c.latencyN, c.burstN, c.depths, c.nodeModules = 3, 50, []int{1}, 100
	}
	return c
}

// defaultCache holds generated upstreams between runs.
func defaultCache() string { return filepath.Join(os.TempDir(), "wh-gitd-bench-cache") }
