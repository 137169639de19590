package jobstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// openStore opens a store in a fresh state dir, closed at the test's end.
func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// finished records job id of entry site, finished at end, with a log and
// a payload file.
func finished(t *testing.T, s *Store, id string, end time.Time) {
	t.Helper()
	rec := &job.Record{Job: &job.Job{ID: id, Repo: "site", Event: job.EventPush, Queued: end}, State: job.Succeeded,
		Finished: end, Log: s.LogPath(id)}
	if err := s.Accept(rec, []byte(`{"ref":"refs/heads/main"}`)); err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, s.LogPath(id), "log of "+id)
	if _, err := s.WritePayloadFile(id, []byte("{}")); err != nil {
		t.Fatal(err)
	}
}

// A prune with nothing to delete writes nothing: after most jobs the
// history is within its bounds, and a write would cost two syncs.
func TestPruneWithinBoundsWritesNothing(t *testing.T) {
	s := openStore(t)
	t0 := time.Now().Add(-time.Hour)
	for i, id := range []string{"j1", "j2"} {
		finished(t, s, id, t0.Add(time.Duration(i)*time.Minute))
	}
	if err := s.Prune("site", 10, time.Time{}); err != nil { // also forgets old deliveries, once
		t.Fatal(err)
	}
	writes := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	if err := s.Prune("site", 10, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if after := writes(); after != before {
		t.Errorf("a prune with nothing to delete made %d writes", after-before)
	}
	for _, id := range []string{"j1", "j2"} {
		if _, err := s.Get(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// Prune reads the entry's name also from a record written when the job's
// fields were nested under "job".
func TestPruneReadsNestedRecords(t *testing.T) {
	s := openStore(t)
	old := `{"job":{"id":"j0","repo":"site","event":"push"},"state":"succeeded","finished":"2020-01-02T03:04:05Z"}`
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).Put([]byte("j0"), []byte(old))
	}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Get("j0"); err != nil || rec.Repo != "site" {
		t.Fatalf("Get j0 = %+v, %v", rec, err)
	}
	if err := s.Prune("site", 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("j0"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("after Prune(keep 0): Get j0 = %v, want not found", err)
	}
}

// Open makes the state dir, the folders it needs in it, and the job store.
func TestOpenCreatesTheStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "state")
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range []string{dir, filepath.Join(dir, jobsDir), filepath.Join(dir, locksDir)} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("folder %s: %v", d, err)
		}
	}
	if !testkit.Exists(filepath.Join(dir, dbFile)) || s.Dir() != dir {
		t.Errorf("no job store in %s (Dir %s)", dir, s.Dir())
	}
}

// A record that does not decode is reported, naming its job, and never
// hides the others.
func TestRecordThatDoesNotDecode(t *testing.T) {
	s := openStore(t)
	now := time.Now()
	for _, id := range []string{"j1", "j2", "j3"} {
		finished(t, s, id, now)
	}
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketJobs).Put([]byte("j2"), []byte("{not json")) })
	if err != nil {
		t.Fatal(err)
	}
	const want = "job j2: record does not decode"
	if rec, err := s.Get("j2"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Get of the bad record: %+v, %v; want an error holding %q", rec, err, want)
	}
	if _, err := s.Get("j3"); err != nil {
		t.Errorf("Get of a good record: %v", err)
	}
	recs, err := s.List(job.Filter{})
	var ids []string
	for _, rec := range recs {
		ids = append(ids, rec.Job.ID)
	}
	if err == nil || !strings.Contains(err.Error(), want) || strings.Join(ids, " ") != "j3 j1" {
		t.Errorf("List: %v, %v; want j3 and j1 and an error holding %q", ids, err, want)
	}
}

// Prune deletes the records of the jobs past the newest keep or finished
// before the cutoff, and their log and payload files; the others stay whole.
func TestPruneRemovesTheJobsFiles(t *testing.T) {
	t0 := time.Now().Add(-time.Hour)
	cases := []struct {
		name   string
		keep   int
		cutoff time.Time
		gone   map[string]bool
	}{
		{"past the newest keep", 1, time.Time{}, map[string]bool{"j1": true, "j2": true}},
		{"finished before the cutoff", 10, t0.Add(30 * time.Minute), map[string]bool{"j1": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			for i, id := range []string{"j1", "j2", "j3"} {
				finished(t, s, id, t0.Add(time.Duration(i)*time.Hour))
			}
			if err := s.Prune("site", tc.keep, tc.cutoff); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"j1", "j2", "j3"} {
				pruned := tc.gone[id]
				_, err := s.Get(id)
				payload, _ := s.Payload(id)
				if errors.Is(err, job.ErrNotFound) != pruned || (payload == nil) != pruned {
					t.Errorf("%s: Get %v, payload %q; want pruned %v", id, err, payload, pruned)
				}
				for _, f := range []string{s.LogPath(id), s.payloadPath(id)} {
					if testkit.Exists(f) == pruned {
						t.Errorf("%s: file %s there: %v, want %v", id, filepath.Base(f), !pruned, !pruned)
					}
				}
			}
		})
	}
}

// A record decodes as json.Unmarshal decodes it, value and error, also
// when it is damaged or written in the older nested shape.
func TestDecodeRecordAsJSON(t *testing.T) {
	cases := []string{
		`{"id":"j1","repo":"site","state":"queued","queued":"2026-01-02T03:04:05Z"}`,
		` {"job":{"id":"j1","repo":"site"},"state":"succeeded","commands":[{"command":"true","duration_ms":5}]} `,
		`null`, `{}`, `{not json`, `{"state":7}`, `{"id":"j1"} {}`, `[]`, `"j1"`, ``,
	}
	for _, b := range cases {
		got, err := decodeRecord("j1", []byte(b))
		var want job.Record
		wantErr := json.Unmarshal([]byte(b), &want)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != "job j1: record does not decode: "+wantErr.Error() {
			t.Errorf("%q: error %v, json.Unmarshal %v", b, err, wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Errorf("%q: %+v, json.Unmarshal %+v", b, *got, want)
		}
	}
}

// BenchmarkDecodeRecord decodes a queued record, as each state change
// does with the record it replaces.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := &job.Record{Job: &job.Job{ID: "20261203T000000-00000001", Repo: "site", Provider: "github",
		Event: job.EventPush, Delivery: "d-1", Ref: "refs/heads/main", Branch: "main",
		SHA: "0123456789abcdef0123456789abcdef01234567", Before: "0123456789abcdef0123456789abcdef01234567",
		Pusher: "someone", Queued: time.Now()}, State: job.Queued}
	raw, err := json.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRecord(rec.Job.ID, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// PutLater tells done the outcome once the record is committed, and
// without done it holds up nothing that follows.
func TestPutLater(t *testing.T) {
	s := openStore(t)
	jb := &job.Job{ID: "j1", Repo: "site", Event: job.EventPush, Queued: time.Now()}
	if err := s.Accept(&job.Record{Job: jb, State: job.Queued}, nil); err != nil {
		t.Fatal(err)
	}
	s.PutLater(&job.Record{Job: jb, State: job.Running}, nil)
	done := make(chan error, 1)
	s.PutLater(&job.Record{Job: jb, State: job.Superseded, SupersededBy: "j2"}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Get("j1"); err != nil || rec.State != job.Superseded {
		t.Fatalf("record %+v, %v; want superseded", rec, err)
	}
	if err := s.Put(&job.Record{Job: jb, State: job.Superseded}); err != nil {
		t.Fatal(err)
	}
}
