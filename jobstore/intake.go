package jobstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wh-gitd/wh-gitd/job"
)

// pendingJob is an accepted job as the intake log holds it, kept in memory
// until jobs.db has it too.
type pendingJob struct {
	id       string
	rec      []byte // the queued record (JSON)
	delivery []byte // its delivery id's key, nil without one
	seen     []byte // the delivery id's value
	body     bool   // whether it has a body
	msgs     []byte // the outbox messages its acceptance planned (JSON), nil if none
	at, end  logPos // where its entry is in the log
}

func newPendingJob(rec *job.Record, b []byte, body bool) *pendingJob {
	p := &pendingJob{id: rec.Job.ID, rec: b, body: body}
	if rec.Job.Delivery != "" {
		p.delivery = deliveryKey(rec.Job.Repo, rec.Job.Delivery)
		p.seen, _ = json.Marshal(delivery{Job: rec.Job.ID, Seen: rec.Job.Queued})
	}
	return p
}

// intakeOp asks the logger to append one accepted job.
type intakeOp struct {
	job  *pendingJob
	body []byte
	err  chan error
}

// pendingJobs are the jobs in the intake log and not yet in jobs.db, and
// the segments that hold the bodies of unfinished jobs. A job leaves it
// only once jobs.db's commit of it is visible (done1 after the commit), so
// a reader must look here first and open its jobs.db view after: a view
// opened before that commit, with the job looked for here after it left,
// would find the job in neither place.
type pendingJobs struct {
	mu         sync.Mutex
	byID       map[string]*pendingJob
	byDelivery map[string]string
	// live is the segment of each unfinished job's body.
	live map[string]uint64
	// upTo is how far jobs.db has taken the log.
	upTo logPos
}

func newPendingJobs() pendingJobs {
	return pendingJobs{byID: map[string]*pendingJob{}, byDelivery: map[string]string{}, live: map[string]uint64{}}
}

func (ps *pendingJobs) add(p *pendingJob) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.byID[p.id] = p
	if p.delivery != nil {
		ps.byDelivery[string(p.delivery)] = p.id
	}
	if p.body {
		ps.live[p.id] = p.at.seg
	}
}

// applied forgets p, which jobs.db now holds.
func (ps *pendingJobs) applied(p *pendingJob) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.byID, p.id)
	if p.delivery != nil && ps.byDelivery[string(p.delivery)] == p.id {
		delete(ps.byDelivery, string(p.delivery))
	}
	if ps.upTo.less(p.end) {
		ps.upTo = p.end
	}
}

// ended notes that the body of a job that ended is needed no more.
func (ps *pendingJobs) ended(rec *job.Record) {
	if !rec.State.Final() {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.live, rec.Job.ID)
}

// any says whether jobs.db has yet to take some job.
func (ps *pendingJobs) any() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.byID) > 0
}

func (ps *pendingJobs) record(id string) []byte {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.byID[id]; p != nil {
		return p.rec
	}
	return nil
}

func (ps *pendingJobs) body(id string) (logPos, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byID[id]
	if p == nil || !p.body {
		return logPos{}, false
	}
	return p.at, true
}

func (ps *pendingJobs) delivery(key []byte) (string, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	id, ok := ps.byDelivery[string(key)]
	return id, ok
}

// records returns the pending jobs' records by id.
func (ps *pendingJobs) records() map[string][]byte {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	recs := make(map[string][]byte, len(ps.byID))
	for id, p := range ps.byID {
		recs[id] = p.rec
	}
	return recs
}

// pendingRecords returns those of the pending records recs (taken before
// tx began) that jobs.db does not hold yet as of tx and that keep accepts.
func pendingRecords(tx *bolt.Tx, recs map[string][]byte, keep func(*job.Record) bool) (out []*job.Record, bad []error) {
	for id, b := range recs {
		if tx.Bucket(bucketJobs).Get([]byte(id)) != nil {
			continue
		}
		rec, err := decodeRecord(id, b)
		switch {
		case err != nil:
			bad = append(bad, err)
		case keep(rec):
			out = append(out, rec)
		}
	}
	return out, bad
}

// logger appends accepted jobs to the intake log, all those waiting with
// one sync, answers them, and hands them to the committer for jobs.db.
func (s *Store) logger() {
	defer close(s.logged)
	defer s.log.close()
	for op := range s.intake {
		s.logBatch(gather(op, s.intake, 512))
	}
}

// logBufs holds the buffers batches of entries are framed in, a few hundred
// KB under load: made afresh for each batch they were a large share of
// what the daemon allocated, and a pool lets the collector take them back
// once deliveries stop.
var logBufs sync.Pool

func (s *Store) logBatch(batch []intakeOp) {
	parts := make([]entryParts, len(batch))
	size := 0
	for i, o := range batch {
		parts[i] = entryParts{rec: o.job.rec, msgs: o.job.msgs, body: o.body}
		size += parts[i].maxSize()
	}
	at, ends, err := s.appendParts(parts, size)
	if err != nil {
		for _, o := range batch {
			o.err <- err
		}
		return
	}
	start := at
	for i, o := range batch {
		p := o.job
		p.at, p.end = start, logPos{seg: at.seg, off: at.off + ends[i]}
		start = p.end
		s.pending.add(p)
		s.ops <- storeOp{fn: func(tx *bolt.Tx) error { return s.applyAccepted(tx, p) }, accepted: p, later: true}
		o.err <- nil
	}
}

// appendParts frames parts (at most size bytes in all) for the segment
// they go to, appends and syncs them, and returns where they start and
// where each ends, counted from there.
func (s *Store) appendParts(parts []entryParts, size int) (at logPos, ends []int64, err error) {
	seg, err := s.log.room(int64(size))
	if err != nil {
		return at, nil, err
	}
	bp, _ := logBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := slices.Grow((*bp)[:0], size)
	ends = make([]int64, len(parts))
	for i, e := range parts {
		buf = appendEntry(buf, seg, e)
		ends[i] = int64(len(buf))
	}
	at, err = s.log.append(buf)
	*bp = buf
	logBufs.Put(bp)
	return at, ends, err
}

// applyAccepted writes an accepted job from the intake log into jobs.db:
// its record, unless jobs.db already has one (a later state), the outbox
// messages its acceptance planned, its delivery id, the reference to its
// body, and how far the log is applied now.
func (s *Store) applyAccepted(tx *bolt.Tx, p *pendingJob) error {
	id := []byte(p.id)
	if p.msgs != nil {
		if err := s.enqueueAccepted(tx, p); err != nil {
			return err
		}
	} else if jobs := tx.Bucket(bucketJobs); jobs.Get(id) == nil {
		if err := jobs.Put(id, p.rec); err != nil {
			return err
		}
	}
	if p.body {
		if err := tx.Bucket(bucketPayloads).Put(id, refValue(p.at)); err != nil {
			return err
		}
	}
	if p.delivery != nil {
		if err := tx.Bucket(bucketDeliveries).Put(p.delivery, p.seen); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketIntake).Put(keyApplied, p.end.bytes())
}

// replay creates the buckets, writes the jobs that the intake log holds
// and jobs.db not yet (a crash came between the two), and returns the
// segment the log goes on with: a new one, so that nothing is ever
// written after a torn entry. It learns which segments hold the bodies of
// unfinished jobs.
func (s *Store) replay() (next uint64, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketPayloads, bucketDeliveries, bucketOutbox, bucketIntake} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		from, _ := parsePos(tx.Bucket(bucketIntake).Get(keyApplied))
		entries, err := readFrom(s.intakePath(), from)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := s.applyEntry(tx, e); err != nil {
				return err
			}
		}
		segs, err := segments(s.intakePath())
		if err != nil {
			return err
		}
		next = max(from.seg, 1)
		if len(segs) > 0 {
			next = max(next, segs[len(segs)-1]+1)
		}
		s.pending.upTo = logPos{seg: next}
		if err := tx.Bucket(bucketIntake).Put(keyApplied, s.pending.upTo.bytes()); err != nil {
			return err
		}
		return s.findLive(tx)
	})
	return next, err
}

// applyEntry applies one entry read back from the log.
func (s *Store) applyEntry(tx *bolt.Tx, e logEntry) error {
	var rec job.Record
	if err := json.Unmarshal(e.rec, &rec); err != nil || rec.Job == nil {
		return fmt.Errorf("intake log entry at %x:%d: record does not decode: %v", e.at.seg, e.at.off, err)
	}
	p := newPendingJob(&rec, e.rec, len(e.body) > 0)
	p.at, p.end, p.msgs = e.at, e.end, nonEmpty(e.msgs)
	return s.applyAccepted(tx, p)
}

// findLive notes the segments that hold the bodies of unfinished jobs.
func (s *Store) findLive(tx *bolt.Tx) error {
	jobs := tx.Bucket(bucketJobs)
	return tx.Bucket(bucketPayloads).ForEach(func(k, v []byte) error {
		at, ok := parsePos(v[min(1, len(v)):])
		if len(v) == 0 || v[0] != payloadRef || !ok {
			return nil
		}
		rec, err := decodeRecord(string(k), jobs.Get(k))
		if err == nil && !rec.State.Final() {
			s.pending.live[string(k)] = at.seg
		}
		return nil
	})
}

// tidyEvery is how often segments nothing needs any more are removed.
const tidyEvery = 10 * time.Second

func (s *Store) tidyLoop() {
	defer close(s.tidied)
	t := time.NewTicker(tidyEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopTidy:
			return
		case <-t.C:
			s.tidy()
		}
	}
}

// tidy removes the segments nothing needs any more.
func (s *Store) tidy() {
	segs, err := segments(s.intakePath())
	if err != nil {
		return
	}
	before, live := s.free()
	for _, seg := range segs {
		if seg < before && !live[seg] {
			if err := s.log.remove(seg); err != nil {
				return
			}
		}
	}
}

// free tells which segments nothing needs any more: those before before,
// the one appended to, that jobs.db has taken in full, and that hold no
// unfinished job's body (live).
func (s *Store) free() (before uint64, live map[uint64]bool) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	before = min(s.pending.upTo.seg, s.log.current.Load())
	live = map[uint64]bool{}
	for _, seg := range s.pending.live {
		live[seg] = true
	}
	return before, live
}

// nonEmpty is b, or nil when b is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
