package runner

import (
	"fmt"
	"sync"
	"time"
)

// ids makes job ids that sort by the time they were made: 12 hex digits of
// Unix milliseconds, 4 of a counter within the millisecond, and 2 that tell
// apart processes making ids in the same millisecond (a daemon and a
// wh-git-trigger).
type ids struct {
	mu      sync.Mutex
	process byte
	ms      int64
	seq     uint16
}

func (g *ids) next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := now.UnixMilli()
	switch {
	case ms > g.ms:
		g.ms, g.seq = ms, 0
	case g.seq == 0xffff: // 65536 ids in one millisecond: borrow the next
		g.ms, g.seq = g.ms+1, 0
	default:
		g.seq++
	}
	return fmt.Sprintf("%012x%04x%02x", g.ms, g.seq, g.process)
}
