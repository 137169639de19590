package runner

import (
	"container/list"
	"time"
)

// How long and how many delivery ids are remembered for deduplication.
const (
	deliveryTTL = 7 * 24 * time.Hour
	deliveryMax = 100_000
)

// deliveries remembers which job each delivery id made, for deliveryTTL and
// at most max ids (the oldest are forgotten first). Not safe for concurrent
// use: the Runner's mutex guards it.
type deliveries struct {
	ttl   time.Duration
	max   int
	byKey map[string]*list.Element
	order *list.List // of *delivery, oldest first
	now   func() time.Time
}

type delivery struct {
	key  string
	job  string
	seen time.Time
}

func newDeliveries(ttl time.Duration, max int) *deliveries {
	return &deliveries{ttl: ttl, max: max, byKey: make(map[string]*list.Element),
		order: list.New(), now: time.Now}
}

func deliveryKey(repo, id string) string { return repo + "\x00" + id }

// lookup returns the job of a delivery id seen before; an empty id is never seen.
func (d *deliveries) lookup(repo, id string) (string, bool) {
	if id == "" {
		return "", false
	}
	d.expire()
	e, ok := d.byKey[deliveryKey(repo, id)]
	if !ok {
		return "", false
	}
	return e.Value.(*delivery).job, true
}

func (d *deliveries) add(repo, id, job string) {
	if id == "" {
		return
	}
	k := deliveryKey(repo, id)
	d.byKey[k] = d.order.PushBack(&delivery{key: k, job: job, seen: d.now()})
	for d.order.Len() > d.max {
		d.remove(d.order.Front())
	}
}

func (d *deliveries) expire() {
	cutoff := d.now().Add(-d.ttl)
	for e := d.order.Front(); e != nil && e.Value.(*delivery).seen.Before(cutoff); e = d.order.Front() {
		d.remove(e)
	}
}

func (d *deliveries) remove(e *list.Element) {
	delete(d.byKey, e.Value.(*delivery).key)
	d.order.Remove(e)
}
