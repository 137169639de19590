package jobstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	bolt "go.etcd.io/bbolt"
)

// bucketOutbox holds the messages waiting to be sent: sequence → Message.
var bucketOutbox = []byte("outbox")

// Message is one status or notification waiting in the outbox. The store
// keeps it opaque: Body is for the sender alone; Lane, Topic and Final say
// how it is ordered and when it may be dropped; Report is what the job's
// record shows of it.
type Message struct {
	// Seq is the message's place in the outbox, set by the store.
	Seq uint64 `json:"seq"`
	// Job is the id of the job whose state change caused it.
	Job string `json:"job"`
	// Lane groups the messages sent one at a time, in order (one token or
	// one notify target).
	Lane string `json:"lane"`
	// Topic is what the message is about (one deployment, one commit's
	// status); of two unsent messages of a topic, the older one may be
	// dropped when the outbox is full, unless it is Final.
	Topic string `json:"topic"`
	Final bool   `json:"final,omitempty"`
	// Body is what the sender reads to send it.
	Body    json.RawMessage `json:"body"`
	Created time.Time       `json:"created"`
	// NotBefore is when the sender may try it again.
	NotBefore time.Time  `json:"not_before,omitzero"`
	Report    job.Report `json:"report"`
}

// Transition is a job's state change, as a Planner sees it.
type Transition struct {
	// Prev is the record before the change; nil for a new job.
	Prev *job.Record
	// Next is the record being written.
	Next *job.Record
	// Replacement, set when Next was superseded, returns the job that
	// superseded it (Next.SupersededBy), nil if none is recorded. It reads
	// the transaction, so only while the planner runs; the record is
	// decoded only for a planner that asks.
	Replacement func() *job.Record
	// Earlier returns the newest job of the same branch or environment
	// queued before Next whose record satisfies match; nil if none. It
	// reads the transaction, so only while the planner runs.
	Earlier func(match func(*job.Record) bool) *job.Record
}

// Planner says which messages a state change causes. The store calls it
// inside the transaction that writes the change, so the messages are
// stored if and only if the change is.
type Planner func(t Transition) []Message

// SetPlanner makes every later write of a record enqueue the messages p
// plans for it. Set it before the store is shared.
func (s *Store) SetPlanner(p Planner) { s.planner.Store(&p) }

// Outboxed is signalled after a write that enqueued messages.
func (s *Store) Outboxed() <-chan struct{} { return s.outboxed }

// putState writes rec, keeping the reports its record already has, and
// enqueues the messages the planner plans for the change.
func (s *Store) putState(tx *bolt.Tx, rec *job.Record) error {
	prev := getRecord(tx, rec.Job.ID)
	next := *rec
	next.Reports = nil
	if prev != nil {
		next.Reports = prev.Reports
	}
	if p := s.planner.Load(); p != nil {
		t := Transition{Prev: prev, Next: &next, Earlier: earlier(tx, &next)}
		if by := next.SupersededBy; by != "" {
			t.Replacement = func() *job.Record { return getRecord(tx, by) }
		}
		for _, m := range (*p)(t) {
			if err := enqueue(tx, &next, m); err != nil {
				return err
			}
			s.enqueued.Store(true)
		}
	}
	return putRecord(tx, &next)
}

// planAccepted plans the messages of a new job's acceptance, as JSON for
// its intake log entry: they are on disk when the job is, and go into the
// outbox when jobs.db takes the job (enqueueAccepted).
func (s *Store) planAccepted(rec *job.Record) ([]byte, error) {
	p := s.planner.Load()
	if p == nil {
		return nil, nil
	}
	next := *rec
	next.Reports = nil
	lookUp := func(match func(*job.Record) bool) (found *job.Record) {
		_ = s.db.View(func(tx *bolt.Tx) error {
			found = earlier(tx, &next)(match)
			return nil
		})
		return found
	}
	msgs := (*p)(Transition{Next: &next, Earlier: lookUp})
	if len(msgs) == 0 {
		return nil, nil
	}
	return json.Marshal(msgs)
}

// enqueueAccepted puts the messages an accepted job's acceptance planned
// into the outbox, and its record, with their reports, into jobs.db (a
// record jobs.db already has, a later state, keeps its state).
func (s *Store) enqueueAccepted(tx *bolt.Tx, p *pendingJob) error {
	var msgs []Message
	if err := json.Unmarshal(p.msgs, &msgs); err != nil {
		return fmt.Errorf("planned messages of job %s do not decode: %w", p.id, err)
	}
	rec := getRecord(tx, p.id)
	if rec == nil {
		var err error
		if rec, err = decodeRecord(p.id, p.rec); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		if err := enqueue(tx, rec, m); err != nil {
			return err
		}
	}
	s.enqueued.Store(true)
	return putRecord(tx, rec)
}

// applyPending has jobs.db take every job accepted so far, so that the
// outbox holds the messages their acceptance planned.
func (s *Store) applyPending() error {
	if !s.pending.any() {
		return nil
	}
	return s.write(func(*bolt.Tx) error { return nil })
}

// signal tells Outboxed's reader that messages were committed.
func (s *Store) signal() {
	if s.enqueued.Swap(false) {
		select {
		case s.outboxed <- struct{}{}:
		default:
		}
	}
}

func enqueue(tx *bolt.Tx, rec *job.Record, m Message) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	m.Seq, m.Job = seq, rec.Job.ID
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	m.Report.ID, m.Report.Outcome, m.Report.Updated = strconv.FormatUint(seq, 10), job.ReportPending, m.Created
	rec.Reports = append(rec.Reports, m.Report)
	return putMessage(tx, m)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func putMessage(tx *bolt.Tx, m Message) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketOutbox).Put(seqKey(m.Seq), v)
}

// getRecord reads a record in tx; nil when there is none or it does not
// decode.
func getRecord(tx *bolt.Tx, id string) *job.Record {
	b := tx.Bucket(bucketJobs).Get([]byte(id))
	if b == nil {
		return nil
	}
	rec, err := decodeRecord(id, b)
	if err != nil {
		return nil
	}
	return rec
}

// earlier finds, in tx, the newest job queued before rec of the same
// branch or environment whose record satisfies match.
func earlier(tx *bolt.Tx, rec *job.Record) func(func(*job.Record) bool) *job.Record {
	return func(match func(*job.Record) bool) *job.Record {
		c := tx.Bucket(bucketJobs).Cursor()
		c.Seek([]byte(rec.Job.ID))
		for k, v := c.Prev(); k != nil; k, v = c.Prev() {
			if bytes.Equal(k, []byte(rec.Job.ID)) {
				continue
			}
			other, err := decodeRecord(string(k), v)
			if err == nil && other.Key() == rec.Key() && match(other) {
				return other
			}
		}
		return nil
	}
}

// OutboxLen is how many messages wait in the outbox (0 when the store
// cannot be read: a gauge, not a decision).
func (s *Store) OutboxLen() int {
	n := 0
	_ = s.applyPending()
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n
}

// Outbox returns the messages waiting, in the order they were enqueued.
func (s *Store) Outbox() ([]Message, error) {
	var out []Message
	if err := s.applyPending(); err != nil {
		return nil, err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("outbox message %d does not decode: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// Retry keeps m waiting, with its attempts, next time and report, and
// shows the report on its job's record, in one transaction.
func (s *Store) Retry(m Message) error {
	return s.write(func(tx *bolt.Tx) error {
		if err := putMessage(tx, m); err != nil {
			return err
		}
		return updateReport(tx, m)
	})
}

// Done removes m from the outbox and shows its last report (sent, failed,
// gave up) on its job's record, in one transaction.
func (s *Store) Done(m Message) error {
	return s.write(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketOutbox).Delete(seqKey(m.Seq)); err != nil {
			return err
		}
		return updateReport(tx, m)
	})
}

// updateReport replaces m's report on its job's record; a job pruned
// meanwhile is left alone.
func updateReport(tx *bolt.Tx, m Message) error {
	rec := getRecord(tx, m.Job)
	if rec == nil {
		return nil
	}
	for i := range rec.Reports {
		if rec.Reports[i].ID == m.Report.ID {
			rec.Reports[i] = m.Report
			return putRecord(tx, rec)
		}
	}
	return nil
}

// Compact bounds the outbox to max messages where it can: past it, the
// oldest messages that are not Final and whose topic has a newer message
// are dropped (their reports say so). Final messages are never dropped, so
// the outbox may stay above max. It returns how many were dropped.
func (s *Store) Compact(max int) (int, error) {
	msgs, err := s.Outbox()
	if err != nil || len(msgs) <= max {
		return 0, err
	}
	newest := map[string]uint64{}
	for _, m := range msgs {
		newest[m.Topic] = m.Seq
	}
	var drop []Message
	for _, m := range msgs {
		if len(msgs)-len(drop) <= max {
			break
		}
		if !m.Final && newest[m.Topic] != m.Seq {
			m.Report.Outcome, m.Report.Updated = job.ReportDropped, time.Now()
			drop = append(drop, m)
		}
	}
	err = s.write(func(tx *bolt.Tx) error {
		for _, m := range drop {
			if err := tx.Bucket(bucketOutbox).Delete(seqKey(m.Seq)); err != nil {
				return err
			}
			if err := updateReport(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	return len(drop), err
}
