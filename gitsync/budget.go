package gitsync

import "sync"

// byteBudget bounds the bytes held between two goroutines.
type byteBudget struct {
	mu       sync.Mutex
	freed    *sync.Cond
	used, at int
}

func newByteBudget(at int) *byteBudget {
	b := &byteBudget{at: at}
	b.freed = sync.NewCond(&b.mu)
	return b
}

// take waits until n more bytes fit, or nothing is held.
func (b *byteBudget) take(n int) {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.at {
		b.freed.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) give(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.freed.Broadcast()
}
