// Package jobstore owns wh-gitd's state dir, and is the only package that
// knows its layout: the job store (jobs.db, bbolt: records, delivery ids),
// the intake log in front of it (intake/<seq>.log: accepted jobs and their
// raw deliveries, synced before the answer), each job's log and payload file (jobs/<id>.log,
// jobs/<id>.payload.json), the working copies' lock files
// (locks/<hash>.lock) and the control socket (control.sock). It keeps the
// job history, follows logs, applies retention, and returns every error it
// meets: a record that does not decode is reported, never dropped.
package jobstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	bolt "go.etcd.io/bbolt"
)

// Buckets of the job store.
var (
	bucketJobs       = []byte("jobs")       // id → job.Record (JSON)
	bucketPayloads   = []byte("payloads")   // id → raw delivery body
	bucketDeliveries = []byte("deliveries") // repo \x00 delivery id → delivery (JSON)
	bucketIntake     = []byte("intake")     // keyApplied → how far the intake log is applied
	keyApplied       = []byte("applied")
)

// ErrStore means the job store could not record a job: answer 503.
var ErrStore = errors.New("job store cannot write")

// ErrLocked means another process (a running daemon) holds the store.
var ErrLocked = errors.New("job store is in use by another process")

// Store is the durable job history: one bbolt file in the state dir, and
// the intake log in front of it. A write that returns nil is on disk: an
// accepted job once the intake log holds it (one fdatasync for every job
// accepted together), any other write once bbolt synced its commit.
// Concurrent writers are grouped, by the logger and the committer
// goroutines, so many deliveries arriving together cost one sync, with no
// added delay for one arriving alone.
type Store struct {
	dir string
	mu  sync.Mutex
	// forgotten is when delivery ids were last forgotten.
	forgotten time.Time
	db        *bolt.DB
	ops       chan storeOp
	done      chan struct{}
	// planner plans the outbox's messages of each state change; enqueued
	// says the transaction being committed added some, outboxed tells.
	planner  atomic.Pointer[Planner]
	enqueued atomic.Bool
	outboxed chan struct{}
	intake   chan intakeOp
	logged   chan struct{}
	log      *intakeLog
	pending  pendingJobs
	stopTidy chan struct{}
	tidied   chan struct{}
}

type storeOp struct {
	fn  func(*bolt.Tx) error
	err chan error // buffered: the committer never waits for the writer
	// done, instead of err, is told the outcome by the committer itself
	// (PutLater).
	done func(error)
	// accepted is the job an apply of the intake log writes: nobody waits
	// for it, and a failed one is tried again, in order.
	accepted *pendingJob
	// later says that nobody waits for the write (an apply, PutLater).
	later bool
}

// Open opens the state dir at dir, creating it and its folders when
// needed, and the job store in it, waiting at most timeout for another
// process to let go of the store (then ErrLocked). Jobs the intake log
// holds and jobs.db not yet are written into jobs.db before it returns.
func Open(dir string, timeout time.Duration) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, jobsDir), filepath.Join(dir, locksDir), filepath.Join(dir, intakeDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("create state dir: %w", err)
		}
	}
	path := filepath.Join(dir, dbFile)
	// The free pages are found again at open instead of being written at
	// every commit.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoFreelistSync: true,
		FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	s := &Store{dir: dir, db: db, ops: make(chan storeOp, 1024), done: make(chan struct{}),
		intake: make(chan intakeOp, 128), logged: make(chan struct{}), pending: newPendingJobs(),
		stopTidy: make(chan struct{}), tidied: make(chan struct{}), outboxed: make(chan struct{}, 1)}
	next, err := s.replay()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
	s.log = openLog(s.intakePath(), next, s.free)
	s.tidy()
	go s.commit()
	go s.logger()
	go s.tidyLoop()
	return s, nil
}

// Close stops the logger, the committer and the tidying, and closes the
// file. Jobs accepted and not yet in jobs.db are in the intake log, and
// the next Open writes them.
func (s *Store) Close() error {
	close(s.intake)
	<-s.logged
	close(s.ops)
	<-s.done
	close(s.stopTidy)
	<-s.tidied
	return s.db.Close()
}

// write runs fn in a write transaction, grouped with concurrent writes, and
// returns once it is on disk.
func (s *Store) write(fn func(*bolt.Tx) error) error {
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

// Accept records a new queued job, its payload and its delivery id: it
// returns once the intake log holds them on disk; jobs.db gets them soon
// after (see intake.go).
func (s *Store) Accept(rec *job.Record, payload []byte) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	p := newPendingJob(rec, b, len(payload) > 0)
	if p.msgs, err = s.planAccepted(rec); err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	op := intakeOp{job: p, body: payload, err: make(chan error, 1)}
	s.intake <- op
	if err := <-op.err; err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	return nil
}

// Put records rec (a state change).
func (s *Store) Put(rec *job.Record) error {
	s.pending.ended(rec)
	return s.write(func(tx *bolt.Tx) error { return s.putState(tx, rec) })
}

// PutLater queues rec for the next commit and returns at once; done, if not
// nil, is called with the outcome, on the store's committer goroutine: it
// must return at once and never use the store. For records whose loss in a
// crash costs nothing (recovery derives them again), so that the request
// path does not wait for a second sync.
func (s *Store) PutLater(rec *job.Record, done func(error)) {
	s.pending.ended(rec)
	s.ops <- storeOp{fn: func(tx *bolt.Tx) error { return s.putState(tx, rec) }, done: done, later: true}
}

// Get returns the record of job id; job.ErrNotFound when there is none.
func (s *Store) Get(id string) (*job.Record, error) {
	var rec *job.Record
	pending := s.pending.record(id) // before the view: see pendingJobs
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs).Get([]byte(id))
		if b == nil {
			b = pending
		}
		if b == nil {
			return job.ErrNotFound
		}
		var err error
		rec, err = decodeRecord(id, b)
		return err
	})
	return rec, err
}

// decodeRecord reads the record of job id.
func decodeRecord(id string, b []byte) (*job.Record, error) {
	var rec job.Record
	if err := decodeInto(id, b, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// decodeInto decodes the record of job id, or the part of it v holds.
func decodeInto(id string, b []byte, v any) error {
	var err error
	if u, ok := v.(json.Unmarshaler); ok {
		// A record's UnmarshalJSON checks b itself: json.Unmarshal would
		// check b and scan it once more before calling it.
		err = u.UnmarshalJSON(b)
	} else {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("job %s: record does not decode: %w", id, err)
	}
	return nil
}

// Payload returns the raw delivery of job id; nil when it has none (or no
// more: the intake log keeps the bodies of unfinished jobs only).
func (s *Store) Payload(id string) ([]byte, error) {
	var out []byte
	at, inLog := s.pending.body(id) // before the view: see pendingJobs
	err := s.db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketPayloads).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil && inLog {
		out = refValue(at)
	}
	if len(out) == 0 || out[0] != payloadRef {
		return out, nil
	}
	at, ok := parsePos(out[1:])
	if !ok {
		return nil, fmt.Errorf("job %s: payload reference does not decode", id)
	}
	e, err := readEntry(s.intakePath(), at)
	return e.body, err
}

// Seen returns the job of a delivery id recorded before, if any.
func (s *Store) Seen(repo, id string) (jobID string, found bool, err error) {
	if id == "" {
		return "", false, nil
	}
	key := deliveryKey(repo, id)
	pendingID, pending := s.pending.delivery(key) // before the view: see pendingJobs
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries).Get(key)
		if b == nil {
			jobID, found = pendingID, pending
			return nil
		}
		var d delivery
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("delivery %s of %s: record does not decode: %w", id, repo, err)
		}
		jobID, found = d.Job, true
		return nil
	})
	return jobID, found, err
}

// List returns the records that match f, newest first. Records that do not
// decode are skipped and reported in the error, with the others returned.
func (s *Store) List(f job.Filter) ([]*job.Record, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var out []*job.Record
	var bad []error
	pending := s.pending.records() // before the view: see pendingJobs
	err := s.db.View(func(tx *bolt.Tx) error {
		out, bad = pendingRecords(tx, pending, func(rec *job.Record) bool {
			return f.Selects(rec) && (f.Before == "" || rec.Job.ID < f.Before)
		})
		c := tx.Bucket(bucketJobs).Cursor()
		k, v := c.Last()
		if f.Before != "" {
			if k, v = c.Seek([]byte(f.Before)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < f.Limit; k, v = c.Prev() {
			rec, err := decodeRecord(string(k), v)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			if !f.Selects(rec) {
				continue
			}
			out = append(out, rec)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *job.Record) int { return strings.Compare(b.Job.ID, a.Job.ID) })
	return out[:min(len(out), f.Limit)], errors.Join(append(bad, err)...)
}

// Unfinished returns the jobs that were queued, running or interrupted, in
// the order they were queued. Records that do not decode are reported in
// the error, with the others returned.
func (s *Store) Unfinished() ([]*job.Record, error) {
	var out []*job.Record
	var bad []error
	pending := s.pending.records() // before the view: see pendingJobs
	err := s.db.View(func(tx *bolt.Tx) error {
		out, bad = pendingRecords(tx, pending, func(*job.Record) bool { return true })
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(string(k), v)
			switch {
			case err != nil:
				bad = append(bad, err)
			case !rec.State.Final():
				out = append(out, rec)
			}
			return nil
		})
	})
	return out, errors.Join(append(bad, err)...)
}

// deliveryTTL is how long delivery ids are remembered at least.
const deliveryTTL = 7 * 24 * time.Hour

// forgetBefore returns the time before which delivery ids are forgotten
// now, or zero when they were forgotten less than an hour ago (forgetting
// walks all of them).
func (s *Store) forgetBefore(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.forgotten) < time.Hour {
		return time.Time{}
	}
	s.forgotten = now
	return now.Add(-deliveryTTL)
}

// Prune deletes the finished jobs of repo past the newest keep or finished
// before cutoff, with their payloads, and the logs and payload files of
// those that started (a superseded or cancelled job never had any), and, at most
// once an hour, the delivery ids older than deliveryTTL. A record that does
// not decode is kept, and reported. What to delete is found in a read
// transaction; a write (and its two syncs) happens only when there is
// something to delete, which after most jobs there is not.
func (s *Store) Prune(repo string, keep int, cutoff time.Time) error {
	forget := s.forgetBefore(time.Now())
	if err := s.applyPending(); err != nil {
		return err
	}
	var p prunePlan
	if err := s.db.View(func(tx *bolt.Tx) error {
		p = planPrune(tx, repo, keep, cutoff, forget)
		return nil
	}); err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	if len(p.jobs) > 0 || len(p.deliveries) > 0 {
		if err := s.write(p.apply); err != nil {
			return err
		}
	}
	bad := p.bad
	for _, id := range p.files {
		bad = append(bad, s.removeFiles(id))
	}
	return errors.Join(bad...)
}

// prunePlan is what Prune deletes.
type prunePlan struct {
	jobs, deliveries [][]byte
	// files are the jobs whose log and payload files go too.
	files []string
	bad   []error
}

// pruned is what Prune reads of a record: decoding only these fields
// skips the commands, the sync and the reports.
type pruned struct {
	Repo     string    `json:"repo"`
	State    job.State `json:"state"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Log      string    `json:"log"`
	// Legacy is where records written before the job's fields moved to
	// the top level keep the entry's name.
	Legacy *struct {
		Repo string `json:"repo"`
	} `json:"job"`
}

func planPrune(tx *bolt.Tx, repo string, keep int, cutoff, forget time.Time) prunePlan {
	var p prunePlan
	c := tx.Bucket(bucketJobs).Cursor()
	kept := 0
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var rec pruned
		if err := decodeInto(string(k), v, &rec); err != nil {
			p.bad = append(p.bad, err)
			continue
		}
		if rec.Legacy != nil {
			rec.Repo = rec.Legacy.Repo
		}
		if rec.Repo != repo || !rec.State.Final() {
			continue
		}
		if kept < keep && !rec.Finished.Before(cutoff) {
			kept++
			continue
		}
		p.jobs = append(p.jobs, bytes.Clone(k))
		if !rec.Started.IsZero() || rec.Log != "" {
			p.files = append(p.files, string(k)) // only a job that started has files
		}
	}
	if !forget.IsZero() {
		_ = tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			var d delivery
			if json.Unmarshal(v, &d) == nil && d.Seen.Before(forget) {
				p.deliveries = append(p.deliveries, bytes.Clone(k))
			}
			return nil
		})
	}
	return p
}

// apply deletes what the plan names; a key already gone is no error.
func (p prunePlan) apply(tx *bolt.Tx) error {
	for _, k := range p.jobs {
		if err := tx.Bucket(bucketJobs).Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPayloads).Delete(k); err != nil {
			return err
		}
	}
	for _, k := range p.deliveries {
		if err := tx.Bucket(bucketDeliveries).Delete(k); err != nil {
			return err
		}
	}
	return nil
}
