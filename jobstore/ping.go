package jobstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Ping reports whether the store answers within ctx: a read transaction,
// and a round trip through the committer that every write goes through (a
// disk whose writes hang holds it). It writes nothing. Call it only while
// the store is open.
func (s *Store) Ping(ctx context.Context) error {
	read := make(chan error, 1)
	go func() {
		read <- s.db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketJobs) == nil {
				return errors.New("no jobs bucket")
			}
			return nil
		})
	}()
	select {
	case err := <-read:
		if err != nil {
			return fmt.Errorf("ping job store: read: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("ping job store: read: %w", context.Cause(ctx))
	}
	op := storeOp{err: make(chan error, 1)} // no fn: a ping
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return fmt.Errorf("ping job store: writes do not go through: %w", context.Cause(ctx))
	}
	select {
	case <-op.err:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ping job store: writes do not go through: %w", context.Cause(ctx))
	}
}

// pingsOnly reports whether a batch holds nothing but pings.
func pingsOnly(batch []storeOp) bool {
	for _, o := range batch {
		if o.fn != nil {
			return false
		}
	}
	return true
}
