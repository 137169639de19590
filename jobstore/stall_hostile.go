//go:build hostile

package jobstore

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Stall holds the committer in a write transaction until release is
// called, as a disk whose writes hang does: writes and Ping wait, reads
// go on. Built only with the hostile tag, for the tests that make the
// store hang.
func (s *Store) Stall() (release func()) {
	held, free := make(chan struct{}), make(chan struct{})
	s.ops <- storeOp{fn: func(*bolt.Tx) error { close(held); <-free; return nil }, err: make(chan error, 1)}
	<-held
	return sync.OnceFunc(func() { close(free) })
}
