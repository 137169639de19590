package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	bolt "go.etcd.io/bbolt"
)

// Buckets of the job store.
var (
	bucketJobs       = []byte("jobs")       // id → Record (JSON)
	bucketPayloads   = []byte("payloads")   // id → raw delivery body
	bucketDeliveries = []byte("deliveries") // repo \x00 delivery id → delivery (JSON)
)

// ErrStore means the job store could not record a job: answer 503.
var ErrStore = errors.New("job store cannot write")

// ErrLocked means another process (a running daemon) holds the store.
var ErrLocked = errors.New("job store is in use by another process")

// Store is the durable job history: one bbolt file in the state dir. A write
// that returns nil is on disk (bbolt syncs each commit). Concurrent writers
// are grouped into one transaction by a committer goroutine, so many
// deliveries arriving together cost one sync, with no added delay for one
// arriving alone. A nil *Store records nothing.
type Store struct {
	db   *bolt.DB
	ops  chan storeOp
	done chan struct{}
}

type storeOp struct {
	fn  func(*bolt.Tx) error
	err chan error // buffered: the committer never waits for the writer
}

// OpenStore opens (or creates) the store at path, waiting at most timeout
// for another process to let go of it.
func OpenStore(path string, timeout time.Duration) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketPayloads, bucketDeliveries} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	s := &Store{db: db, ops: make(chan storeOp, 1024), done: make(chan struct{})}
	go s.commit()
	return s, nil
}

// Close stops the committer and closes the file.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	close(s.ops)
	<-s.done
	return s.db.Close()
}

// commit runs every write queued while the previous commit was syncing in
// one transaction. If that transaction fails, each write is retried alone
// so that one bad write does not fail the others.
func (s *Store) commit() {
	defer close(s.done)
	for op := range s.ops {
		batch := []storeOp{op}
	more:
		for len(batch) < 512 {
			select {
			case next, ok := <-s.ops:
				if !ok {
					break more
				}
				batch = append(batch, next)
			default:
				break more
			}
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, o := range batch {
				if err := o.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil || len(batch) == 1 {
			for _, o := range batch {
				o.err <- err
			}
			continue
		}
		for _, o := range batch {
			o.err <- s.db.Update(o.fn)
		}
	}
}

// write runs fn in a write transaction, grouped with concurrent writes, and
// returns once it is on disk.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	if s == nil {
		return nil
	}
	op := storeOp{fn: fn, err: make(chan error, 1)}
	s.ops <- op
	if err := <-op.err; err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	return nil
}

// delivery is what the store keeps of a delivery id.
type delivery struct {
	Job  string    `json:"job"`
	Seen time.Time `json:"seen"`
}

func deliveryKey(repo, id string) []byte { return []byte(repo + "\x00" + id) }

func putRecord(tx *bolt.Tx, rec *job.Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketJobs).Put([]byte(rec.Job.ID), b)
}

// accept records a new queued job, its payload and its delivery id.
func (s *Store) accept(rec *job.Record, payload []byte) error {
	return s.write(func(tx *bolt.Tx) error {
		if err := putRecord(tx, rec); err != nil {
			return err
		}
		if len(payload) > 0 {
			if err := tx.Bucket(bucketPayloads).Put([]byte(rec.Job.ID), payload); err != nil {
				return err
			}
		}
		if rec.Job.Delivery == "" {
			return nil
		}
		d, _ := json.Marshal(delivery{Job: rec.Job.ID, Seen: rec.Job.Queued})
		return tx.Bucket(bucketDeliveries).Put(deliveryKey(rec.Job.Repo, rec.Job.Delivery), d)
	})
}

// put records rec (a state change).
func (s *Store) put(rec *job.Record) error {
	return s.write(func(tx *bolt.Tx) error { return putRecord(tx, rec) })
}

// putLater queues rec for the next commit and returns at once; done, if not
// nil, is called with the outcome. For records whose loss in a crash costs
// nothing (recovery derives them again), so that the request path does not
// wait for a second sync.
func (s *Store) putLater(rec *job.Record, done func(error)) {
	if s == nil {
		return
	}
	op := storeOp{fn: func(tx *bolt.Tx) error { return putRecord(tx, rec) }, err: make(chan error, 1)}
	s.ops <- op
	if done != nil {
		go func() { done(<-op.err) }()
	}
}

// Get returns the record of job id.
func (s *Store) Get(id string) (*job.Record, bool) {
	if s == nil {
		return nil, false
	}
	var rec *job.Record
	_ = s.db.View(func(tx *bolt.Tx) error {
		rec = decodeRecord(tx.Bucket(bucketJobs).Get([]byte(id)))
		return nil
	})
	return rec, rec != nil
}

func decodeRecord(b []byte) *job.Record {
	if b == nil {
		return nil
	}
	var rec job.Record
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	return &rec
}

// payload returns the raw delivery of job id.
func (s *Store) payload(id string) []byte {
	if s == nil {
		return nil
	}
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketPayloads).Get([]byte(id)))
		return nil
	})
	return out
}

// seen returns the job of a delivery id recorded before.
func (s *Store) seen(repo, id string) (string, bool) {
	if s == nil || id == "" {
		return "", false
	}
	var d delivery
	found := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketDeliveries).Get(deliveryKey(repo, id)); b != nil {
			found = json.Unmarshal(b, &d) == nil
		}
		return nil
	})
	return d.Job, found
}

// List returns the records that match f, newest first.
func (s *Store) List(f job.Filter) []*job.Record {
	if s == nil {
		return nil
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []*job.Record
	_ = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJobs).Cursor()
		for k, v := c.Last(); k != nil && len(out) < f.Limit; k, v = c.Prev() {
			rec := decodeRecord(v)
			if rec == nil || (f.Repo != "" && rec.Job.Repo != f.Repo) || (f.State != "" && rec.State != f.State) {
				continue
			}
			out = append(out, rec)
		}
		return nil
	})
	return out
}

// unfinished returns the jobs that were queued, running or interrupted, in
// the order they were queued.
func (s *Store) unfinished() []*job.Record {
	if s == nil {
		return nil
	}
	var out []*job.Record
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(_, v []byte) error {
			if rec := decodeRecord(v); rec != nil && !rec.State.Final() {
				out = append(out, rec)
			}
			return nil
		})
	})
	return out
}

// deliveryTTL is how long delivery ids are remembered at least.
const deliveryTTL = 7 * 24 * time.Hour

// prune deletes the finished jobs of repo past the newest keep or finished
// before cutoff, and deliveries seen before forget (unless it is zero); it
// returns the ids of the jobs deleted.
func (s *Store) prune(repo string, keep int, cutoff, forget time.Time) ([]string, error) {
	if s == nil {
		return nil, nil
	}
	var ids []string
	err := s.write(func(tx *bolt.Tx) error {
		ids = ids[:0]
		c := tx.Bucket(bucketJobs).Cursor()
		kept := 0
		var del [][]byte
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			rec := decodeRecord(v)
			if rec == nil || rec.Job.Repo != repo || !rec.State.Final() {
				continue
			}
			if kept < keep && !rec.Finished.Before(cutoff) {
				kept++
				continue
			}
			del = append(del, bytes.Clone(k))
		}
		for _, k := range del {
			if err := tx.Bucket(bucketJobs).Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(bucketPayloads).Delete(k); err != nil {
				return err
			}
			ids = append(ids, string(k))
		}
		if forget.IsZero() {
			return nil
		}
		return forgetDeliveries(tx, forget)
	})
	return ids, err
}

func forgetDeliveries(tx *bolt.Tx, before time.Time) error {
	b := tx.Bucket(bucketDeliveries)
	var del [][]byte
	_ = b.ForEach(func(k, v []byte) error {
		var d delivery
		if json.Unmarshal(v, &d) == nil && d.Seen.Before(before) {
			del = append(del, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
