package jobstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wh-gitd/wh-gitd/job"
)

func queued(id string) *job.Record {
	return &job.Record{Job: &job.Job{ID: id, Repo: "site", Provider: "github", Event: job.EventPush,
		Delivery: "d-" + id, Ref: "refs/heads/main", Branch: "main", Queued: time.Now()}, State: job.Queued}
}

func body(id string) []byte { return []byte(`{"ref":"refs/heads/main","id":"` + id + `"}`) }

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Jobs the intake log holds and jobs.db does not (a kill -9 between the
// answer and the commit) are in the store after Open, with their delivery
// ids and bodies; an entry torn at the end of the log is not, and nothing
// is ever written after it; a job that went on is not queued again by a
// later Open.
func TestIntakeLogReplay(t *testing.T) {
	ids := []string{"a1", "a2", "a3"}
	dir := acceptedThenLost(t, ids)
	tear(t, filepath.Join(dir, intakeDir), queued("torn"))

	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkJobs(t, s, ids, "torn")
	if err := s.Accept(queued("b1"), body("b1")); err != nil {
		t.Fatal(err)
	}
	done := queued("a1")
	done.State, done.Finished = job.Succeeded, time.Now()
	if err := s.Put(done); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkJobs(t, s, append(ids, "b1"), "torn")
	if rec, _ := s.Get("a1"); rec.State != job.Succeeded {
		t.Errorf("job a1 is %s after a second Open, want succeeded", rec.State)
	}
}

// acceptedThenLost returns a state dir whose intake log holds the jobs ids
// and whose jobs.db does not, as a kill -9 between the answers and
// jobs.db's commit would leave it.
func acceptedThenLost(t *testing.T, ids []string) string {
	t.Helper()
	dir, forget := freshState(t)
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := s.Accept(queued(id), body(id)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	forget()
	return dir
}

// freshState makes a state dir with an empty store; forget puts its
// jobs.db back as it was then, as a kill -9 before jobs.db took what the
// intake log holds would leave it.
func freshState(t *testing.T) (dir string, forget func()) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := filepath.Join(dir, dbFile)
	copyFile(t, db, db+".before")
	return dir, func() { copyFile(t, db+".before", db) }
}

// tear writes half of rec's entry after the last entry of the newest
// segment, as a write cut short would leave it.
func tear(t *testing.T, dir string, rec *job.Record) {
	t.Helper()
	entries, err := readFrom(dir, logPos{})
	if err != nil || len(entries) == 0 {
		t.Fatalf("intake log: %d entries, %v", len(entries), err)
	}
	end := entries[len(entries)-1].end
	e := appendEntry(nil, end.seg, entryParts{rec: []byte(fmt.Sprintf(`{"id":%q}`, rec.Job.ID)), body: body(rec.Job.ID)})
	f, err := os.OpenFile(segmentName(dir, end.seg), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(e[:len(e)/2], end.off); err != nil {
		t.Fatal(err)
	}
}

func checkJobs(t *testing.T, s *Store, ids []string, absent string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Get(id); err != nil {
			t.Errorf("job %s: %v", id, err)
		}
		if got, found, err := s.Seen("site", "d-"+id); !found || got != id || err != nil {
			t.Errorf("delivery d-%s: %q %v %v", id, got, found, err)
		}
		if b, err := s.Payload(id); err != nil || !bytes.Equal(b, body(id)) {
			t.Errorf("payload of %s: %q %v", id, b, err)
		}
	}
	if _, err := s.Get(absent); err != job.ErrNotFound {
		t.Errorf("torn job %s: %v, want not found", absent, err)
	}
}

// Across several segments, tidying removes the segments whose jobs all
// ended and keeps those with an unfinished job's body, which stays
// readable, also after Open.
func TestIntakeLogTidy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 2000)
	const n = 300
	for i := range n {
		id := fmt.Sprintf("j%04d", i)
		if err := s.Accept(queued(id), append(body(id), big...)); err != nil {
			t.Fatal(err)
		}
		if i != 5 { // j0005 stays unfinished
			rec := queued(id)
			rec.State, rec.Finished = job.Succeeded, time.Now()
			if err := s.Put(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	before, _ := segments(filepath.Join(dir, intakeDir))
	s.tidy()
	after, _ := segments(filepath.Join(dir, intakeDir))
	if len(before) < 4 || len(after) != 2 || after[0] != before[0] {
		t.Errorf("segments %v, after tidying %v: want the first (j0005's) and the one appended to", before, after)
	}
	s.Close()
	if s, err = Open(dir, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := s.Payload("j0005"); err != nil || !bytes.HasPrefix(b, body("j0005")) {
		t.Errorf("payload of the unfinished job: %.40q %v", b, err)
	}
	if rec, err := s.Get("j0299"); err != nil || rec.State != job.Succeeded {
		t.Errorf("last job after Open: %v %v", rec, err)
	}
}

// A job is in sight from the moment Accept returns: while jobs.db takes it
// from the intake log in the background, Seen, Get, Payload and List find
// it at every moment, never in neither place (a redelivery then would make
// a second job for one delivery id, and a job could start without its
// body). Readers look at the newest accepted job while jobs are accepted
// one after another, each commit of jobs.db taking some of them.
func TestAcceptedJobNeverOutOfSight(t *testing.T) {
	s := openStore(t)
	var newest atomic.Int64 // the number of the newest accepted job, from 1
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := newest.Load()
				if n == 0 {
					runtime.Gosched()
					continue
				}
				if err := inSight(s, fmt.Sprintf("j%05d", n)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 1; i <= 600 && len(errs) == 0; i++ {
		id := fmt.Sprintf("j%05d", i)
		if err := s.Accept(queued(id), body(id)); err != nil {
			t.Fatal(err)
		}
		newest.Store(int64(i))
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// inSight checks that every reader of the store finds job id, accepted.
func inSight(s *Store, id string) error {
	if got, found, err := s.Seen("site", "d-"+id); err != nil || !found || got != id {
		return fmt.Errorf("Seen(d-%s) = %q, %v, %v", id, got, found, err)
	}
	if rec, err := s.Get(id); err != nil || rec.Job.ID != id {
		return fmt.Errorf("Get(%s): %v", id, err)
	}
	if b, err := s.Payload(id); err != nil || !bytes.Equal(b, body(id)) {
		return fmt.Errorf("Payload(%s) = %q, %v", id, b, err)
	}
	recs, err := s.List(job.Filter{Limit: 1})
	if err != nil || len(recs) != 1 || recs[0].Job.ID < id {
		return fmt.Errorf("List's newest: %v, %v, with %s accepted", recs, err, id)
	}
	return nil
}

// A full segment that nothing needs any more becomes a later one, and what
// it held before is never read back as entries of its new number: after a
// crash that lost all of jobs.db's commits, the jobs the log gives back are
// exactly those appended to the segments that exist, with their bodies.
func TestIntakeLogReusesSegments(t *testing.T) {
	dir, forget := freshState(t)
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	intake := filepath.Join(dir, intakeDir)
	var ids []string
	bodies := map[string][]byte{}
	// Entries all of one size, so that a reused segment's new entries end
	// where one it held before begins, which reads as an entry unless its
	// checksum says which segment it was written for.
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.UTC)
	for i := range 300 {
		id := fmt.Sprintf("j%04d", i)
		b := append(body(id), bytes.Repeat([]byte("x"), 100<<10)...)
		rec := queued(id)
		rec.Job.Queued = at
		if err := s.Accept(rec, b); err != nil {
			t.Fatal(err)
		}
		rec.State, rec.Finished = job.Succeeded, at
		if err := s.Put(rec); err != nil {
			t.Fatal(err)
		}
		waitApplied(t, s)
		ids, bodies[id] = append(ids, id), b
	}
	segs, err := segments(intake)
	if err != nil {
		t.Fatal(err)
	}
	exists := map[uint64]bool{}
	full := 0
	for _, seg := range segs {
		exists[seg] = true
		if fi, err := os.Stat(segmentName(intake, seg)); err == nil && fi.Size() == logSegmentSize {
			full++
		}
	}
	last := segs[len(segs)-1]
	if full > 3 || last-uint64(len(segs)) < 3 {
		t.Fatalf("segments %v (%d of them full-sized): want full-sized segments used again", segs, full)
	}
	in := map[string]uint64{} // the segment each job's entry was written to
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, id := range ids {
			v := tx.Bucket(bucketPayloads).Get([]byte(id))
			p, ok := parsePos(v[min(1, len(v)):])
			if !ok {
				return fmt.Errorf("job %s: payload reference %x", id, v)
			}
			in[id] = p.seg
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	forget()

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var back, gone int
	for _, id := range ids {
		rec, err := s.Get(id)
		switch {
		case !exists[in[id]]:
			gone++
			if err == nil {
				t.Errorf("job %s, appended to segment %x, which was used again for a later one, is back as %s",
					id, in[id], rec.State)
			}
		case err != nil:
			t.Errorf("job %s in segment %x: %v", id, in[id], err)
		default:
			back++
			if b, err := s.Payload(id); err != nil || !bytes.Equal(b, bodies[id]) {
				t.Errorf("payload of %s: %d bytes, %v", id, len(b), err)
			}
		}
	}
	if back == 0 || gone == 0 {
		t.Errorf("%d jobs in segments that exist, %d in segments used again: want some of each", back, gone)
	}
}

// waitApplied waits until jobs.db holds every accepted job.
func waitApplied(t *testing.T, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.pending.any(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("jobs.db did not take the accepted jobs")
		}
	}
}

// Entries written before segments were reused (whose checksum does not
// cover the segment's number) are still read, so that jobs accepted by the
// version before are not lost by the upgrade.
func TestIntakeLogReadsFormerEntries(t *testing.T) {
	ids := []string{"a1", "a2", "a3"}
	dir := acceptedThenLost(t, ids)
	intake := filepath.Join(dir, intakeDir)
	entries, err := readFrom(intake, logPos{})
	if err != nil || len(entries) != len(ids) {
		t.Fatalf("intake log: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		b := appendEntry(nil, e.at.seg, e.entryParts)
		binary.BigEndian.PutUint32(b, entryMagic1)
		binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[entryHeader:], crcTable))
		f, err := os.OpenFile(segmentName(intake, e.at.seg), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(b, e.at.off)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkJobs(t, s, ids, "none")
}

// A body read from a segment that is used again for a later one while it
// is read (its job ended) reads as gone, as from a removed segment; a
// damaged entry in a segment still in place is an error.
func TestIntakeLogEntryOfReusedSegment(t *testing.T) {
	intake := filepath.Join(t.TempDir(), "intake")
	if err := os.Mkdir(intake, 0o700); err != nil {
		t.Fatal(err)
	}
	e := entryParts{rec: []byte(`{"id":"a"}`), body: body("a")}
	write := func(seg uint64, b []byte) {
		if err := os.WriteFile(segmentName(intake, seg), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1, appendEntry(nil, 1, e))
	name := segmentName(intake, 1)
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := entryIn(f, name, logPos{seg: 1}); err != nil || !bytes.Equal(got.body, e.body) {
		t.Fatalf("entry in place: %q, %v", got.body, err)
	}

	if err := os.Rename(name, segmentName(intake, 2)); err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(segmentName(intake, 2), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.WriteAt(appendEntry(nil, 2, entryParts{rec: []byte(`{"id":"b"}`), body: body("b")}), 0)
	g.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := entryIn(f, name, logPos{seg: 1}); err != nil || got.body != nil {
		t.Errorf("entry of a segment used again while read: %q, %v; want none, no error", got.body, err)
	}

	write(1, append(appendEntry(nil, 1, e)[:entryHeader], "damaged"...))
	h, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := entryIn(h, name, logPos{seg: 1}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged entry in place: %v, want an error", err)
	}
}
