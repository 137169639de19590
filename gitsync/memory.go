package gitsync

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minHeadroom is the least room for new objects the memory bound leaves
// above the live heap while syncs run. Below 16 MiB live the collector's
// own goal (twice the live heap) is lower, so a small sync collects as
// often as without the bound: with 4 MiB, a large incremental sync took
// a fifth more CPU for no less memory.
const minHeadroom = 16 << 20

// memoryBound keeps the process near what its syncs hold while they run.
// By default the collector lets the heap grow to twice what was live after
// the last collection and returns freed pages to the system only slowly,
// so a sync holding 20 MB peaks at 40 MB and more. While a sync or an
// upkeep runs, the Go runtime's soft memory limit is set after every
// collection to what the runtime holds beside the heap, plus the live
// heap, plus half of it (at least minHeadroom) for new objects. The
// runtime then collects sooner and gives freed pages back, at some CPU
// cost, and never below the live heap, so a sync that needs more memory
// gets it (the limit follows it up at the next collection). A lower limit
// set for the process (GOMEMLIMIT) is kept, and restored when the last
// sync ends.
type memoryBound struct {
	mu     sync.Mutex
	active int   // syncs and upkeeps running
	saved  int64 // the limit before the first of them began
	round  int   // counts the times active went from 0 to 1
	sample []metrics.Sample
}

// syncMemory bounds the memory of every sync and upkeep of the process.
var syncMemory = newMemoryBound()

func newMemoryBound() *memoryBound {
	return &memoryBound{sample: []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}}
}

// enter bounds the memory until the returned function is called.
func (b *memoryBound) enter() (leave func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active++
	if b.active == 1 {
		b.saved = debug.SetMemoryLimit(-1)
		b.round++
		b.adjust()
		b.watch(b.round)
	}
	return sync.OnceFunc(b.leave)
}

func (b *memoryBound) leave() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active--; b.active == 0 {
		debug.SetMemoryLimit(b.saved)
	}
}

// watch has afterGC called after the next collection. round ends the
// chain once the syncs it was started for have ended.
func (b *memoryBound) watch(round int) {
	type sentinel struct{ _ *byte } // holds a pointer: never a tiny allocation
	runtime.AddCleanup(new(sentinel), b.afterGC, round)
}

func (b *memoryBound) afterGC(round int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active == 0 || round != b.round {
		return
	}
	b.adjust()
	b.watch(round)
}

// adjust sets the limit from the last collection's live heap; b.mu is held.
func (b *memoryBound) adjust() {
	debug.SetMemoryLimit(min(b.limit(), b.saved))
}

// limit is what the runtime holds outside the heap, plus the live heap
// and its headroom.
func (b *memoryBound) limit() int64 {
	metrics.Read(b.sample)
	v := func(i int) int64 {
		if b.sample[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(min(b.sample[i].Value.Uint64(), math.MaxInt64/4))
	}
	total, released, objects, unused, free, live := v(0), v(1), v(2), v(3), v(4), v(5)
	outside := max(total-released-objects-unused-free, 0)
	return outside + live + max(live/2, minHeadroom)
}
