package gitsync

import (
	"io/fs"
	"runtime"
)

// preloadMin is the number of paths from which the checkout lstats them
// ahead on other goroutines, as git's core.preloadIndex does with threads.
const preloadMin = 1000

// preloadChunk is how many paths one preloading step lstats.
const preloadChunk = 256

// preload holds the lstat of each path of a checkout, taken ahead of the
// checkout's own goroutine, which waits for each chunk as it gets there.
// An lstat taken ahead stays right: placing a path only changes that path
// and its parents, never another path of the target.
type preload struct {
	full  func(string) string
	paths []string
	stats []preStat
	ready []chan struct{} // one per chunk, closed when its stats are in
}

type preStat struct {
	fi  fs.FileInfo
	err error
}

// startPreload lstats paths on up to GOMAXPROCS goroutines; nil when there
// are too few paths for it to pay.
func startPreload(paths []string, full func(string) string) *preload {
	if len(paths) < preloadMin {
		return nil
	}
	n := (len(paths) + preloadChunk - 1) / preloadChunk
	pl := &preload{full: full, paths: paths, stats: make([]preStat, len(paths)), ready: make([]chan struct{}, n)}
	for i := range pl.ready {
		pl.ready[i] = make(chan struct{})
	}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), 4) {
		go func() {
			for chunk := range next {
				pl.fill(chunk)
			}
		}()
	}
	return pl
}

func (pl *preload) fill(chunk int) {
	lo := chunk * preloadChunk
	hi := min(lo+preloadChunk, len(pl.paths))
	lstatAll(pl.paths[lo:hi], pl.full, pl.stats[lo:hi])
	close(pl.ready[chunk])
}

// stat returns the lstat of the i-th path, waiting for it if need be.
func (pl *preload) stat(i int) (fs.FileInfo, error) {
	<-pl.ready[i/preloadChunk]
	s := pl.stats[i]
	return s.fi, s.err
}
