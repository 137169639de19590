package jobstore

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// gather returns first and what else waits in ch, at most limit in all.
func gather[T any](first T, ch <-chan T, limit int) []T {
	batch := []T{first}
	for len(batch) < limit {
		select {
		case next, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, next)
		default:
			return batch
		}
	}
	return batch
}

// commit runs every write queued while the previous commit was syncing in
// one transaction. If that transaction fails, each write is retried alone
// so that one bad write does not fail the others; applies of the intake
// log that fail are tried again, in order, with the next commit (or a
// second later).
func (s *Store) commit() {
	defer close(s.done)
	var retry []storeOp
	for {
		var batch []storeOp
		var wait <-chan time.Time
		if len(retry) > 0 {
			wait = time.After(time.Second)
		}
		select {
		case op, ok := <-s.ops:
			if !ok {
				return // unapplied jobs stay in the intake log for the next Open
			}
			batch = gather(op, s.ops, 512)
			batch = gatherLater(batch, s.ops, laterWait)
		case <-wait:
		}
		retry = s.commitBatch(append(retry, batch...))
	}
}

// laterWait is how long the committer waits for more writes that nobody
// waits for (applies of the intake log, PutLater) before it commits them:
// one bbolt sync for many deliveries, out of the intake log's way.
const laterWait = 20 * time.Millisecond

// gatherLater adds to a batch of writes nobody waits for what comes within
// wait, and returns at once when the batch holds a write someone waits
// for, or is full.
func gatherLater(batch []storeOp, ch <-chan storeOp, wait time.Duration) []storeOp {
	for _, o := range batch {
		if !o.later {
			return batch
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for len(batch) < 512 {
		select {
		case op, ok := <-ch:
			if !ok {
				return batch
			}
			batch = append(batch, op)
			if !op.later {
				return batch
			}
		case <-t.C:
			return batch
		}
	}
	return batch
}

// commitBatch commits batch and returns the applies to try again.
func (s *Store) commitBatch(batch []storeOp) (retry []storeOp) {
	if pingsOnly(batch) {
		for _, o := range batch {
			o.err <- nil
		}
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, o := range batch {
			if o.fn == nil {
				continue // a ping
			}
			if err := o.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.signal()
		for _, o := range batch {
			s.done1(o, nil)
		}
		return nil
	}
	for _, o := range batch {
		if o.accepted != nil && len(retry) > 0 {
			retry = append(retry, o) // keep the log's order
			continue
		}
		err := err
		if o.fn == nil {
			err = nil
		} else if len(batch) > 1 {
			err = s.db.Update(o.fn)
		}
		if o.accepted != nil && err != nil {
			retry = append(retry, o)
			continue
		}
		s.signal() // before the answer: its reader may look at once
		s.done1(o, err)
	}
	return retry
}

// done1 tells a write's outcome to whoever waits for it.
func (s *Store) done1(o storeOp, err error) {
	switch {
	case o.accepted != nil:
		s.pending.applied(o.accepted)
	case o.done != nil:
		o.done(err)
	case o.err != nil:
		o.err <- err
	}
}
