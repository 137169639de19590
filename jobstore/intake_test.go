package jobstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	dir, forget := freshState(t)
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"a1", "a2", "a3"}
	for _, id := range ids {
		if err := s.Accept(queued(id), body(id)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	forget()
	tear(t, filepath.Join(dir, intakeDir), queued("torn"))

	s, err = Open(dir, time.Second)
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
	e := appendEntry(nil, entryParts{rec: []byte(fmt.Sprintf(`{"id":%q}`, rec.Job.ID)), body: body(rec.Job.ID)})
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
