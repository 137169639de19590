package receiver

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Refusals before a delivery is authenticated (bad signature, address not
// allowed, body too large, wrong content type) are logged in full only for
// the first refusalBurst of each endpoint in each refusalWindow; the rest are
// counted and summed up in one line when the window ends. A flood of bad
// deliveries costs the daemon a counter, not a log line each.
const (
	refusalWindow = time.Minute
	refusalBurst  = 5
)

// unknownEndpoint is the key of refusals for names that are not endpoints,
// so that made-up names cannot grow the table.
const unknownEndpoint = "(unknown endpoint)"

// refusalLog rate-limits refusal log lines per endpoint.
type refusalLog struct {
	log    zerolog.Logger
	window time.Duration
	burst  int
	now    func() time.Time
	after  func(time.Duration, func()) // time.AfterFunc; replaced in tests

	mu    sync.Mutex
	byKey map[string]*refusalCount
}

// refusalCount is one endpoint's current window.
type refusalCount struct {
	start      time.Time
	logged     int
	suppressed int
	flushing   bool // a summary is scheduled for the end of the window
}

func newRefusalLog(log zerolog.Logger) *refusalLog {
	return &refusalLog{log: log, window: refusalWindow, burst: refusalBurst, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, byKey: map[string]*refusalCount{}}
}

// admit reports whether this refusal of endpoint key is logged in full; when
// it is not, it is counted for the window's summary line.
func (l *refusalLog) admit(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c := l.byKey[key]
	if c == nil || now.Sub(c.start) >= l.window {
		if c != nil && c.suppressed > 0 { // its summary is due: write it now
			l.summary(key, c)
		}
		c = &refusalCount{start: now}
		l.byKey[key] = c
	}
	if c.logged < l.burst {
		c.logged++
		return true
	}
	c.suppressed++
	if !c.flushing {
		c.flushing = true
		l.after(c.start.Add(l.window).Sub(now), func() { l.flush(key, c) })
	}
	return false
}

// flush writes the summary of window c if it is still the endpoint's current
// one and nothing wrote it yet, and forgets the endpoint.
func (l *refusalLog) flush(key string, c *refusalCount) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKey[key] != c {
		return
	}
	if c.suppressed > 0 {
		l.summary(key, c)
	}
	delete(l.byKey, key)
}

// summary writes the count of refusals not logged in c. Called with l.mu held.
func (l *refusalLog) summary(key string, c *refusalCount) {
	l.log.Warn().Str("repo", key).Int("count", c.suppressed).Time("since", c.start).
		Dur("window", l.window).Msg("more deliveries refused than logged: only the first few of each minute are logged")
	c.suppressed = 0
}
