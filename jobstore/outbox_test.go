package jobstore

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// stateNotes plans one message for each state change, naming the new
// state; a job whose event is "bad" gets a message that cannot be stored.
func stateNotes(tr Transition) []Message {
	body := json.RawMessage(`"` + string(tr.Next.State) + `"`)
	if tr.Next.Event == "bad" {
		body = json.RawMessage(`{`)
	}
	topic := tr.Next.Job.ID
	return []Message{{Lane: "l", Topic: topic, Final: tr.Next.State.Final(), Body: body,
		Report: job.Report{To: "test", State: string(tr.Next.State)}}}
}

func lanes(msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Job+" "+string(m.Body))
	}
	return out
}

// The messages of a state change are stored with it, in one transaction:
// both or neither.
func TestOutboxInTheSameTransaction(t *testing.T) {
	s := openStore(t)
	s.SetPlanner(stateNotes)
	a := &job.Job{ID: "a", Repo: "site", Branch: "main"}
	if err := s.Accept(&job.Record{Job: a, State: job.Queued}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(&job.Record{Job: a, State: job.Running}); err != nil {
		t.Fatal(err)
	}
	bad := &job.Job{ID: "b", Repo: "site", Branch: "main", Event: "bad"}
	if err := s.Accept(&job.Record{Job: bad, State: job.Queued}, nil); !errors.Is(err, ErrStore) {
		t.Fatalf("a message that cannot be stored: Accept returned %v, want ErrStore", err)
	}
	if _, err := s.Get("b"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("the job was stored without its message: %v", err)
	}
	msgs, err := s.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if got := lanes(msgs); !slices.Equal(got, []string{`a "queued"`, `a "running"`}) {
		t.Errorf("outbox %v", got)
	}
	if n := s.OutboxLen(); n != 2 {
		t.Errorf("OutboxLen %d, want 2", n)
	}
	select {
	case <-s.Outboxed():
	default:
		t.Error("Outboxed not signalled")
	}
}

// A record written without reports keeps those the store has; Retry and
// Done show a message's progress on its job's record.
func TestReportsStayOnTheRecord(t *testing.T) {
	s := openStore(t)
	s.SetPlanner(stateNotes)
	a := &job.Job{ID: "a", Repo: "site", Branch: "main"}
	if err := s.Accept(&job.Record{Job: a, State: job.Queued}, nil); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.Outbox()
	m := msgs[0]
	m.Report.Attempts, m.Report.Code = 1, 502
	if err := s.Retry(m); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(&job.Record{Job: a, State: job.Running}); err != nil {
		t.Fatal(err)
	}
	m.Report.Attempts, m.Report.Code, m.Report.Outcome = 2, 201, job.ReportSent
	if err := s.Done(m); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Reports) != 2 || rec.Reports[0].Outcome != job.ReportSent || rec.Reports[0].Attempts != 2 ||
		rec.Reports[1].State != "running" || rec.Reports[1].Outcome != job.ReportPending {
		t.Errorf("reports %+v", rec.Reports)
	}
	if msgs, _ := s.Outbox(); len(msgs) != 1 || msgs[0].Report.State != "running" {
		t.Errorf("outbox %v", lanes(msgs))
	}
}

// The planner sees the job that superseded one, and earlier jobs of the
// same target.
func TestTransitionLooksUp(t *testing.T) {
	s := openStore(t)
	var seen []Transition
	var earlier, replacement []*job.Record
	s.SetPlanner(func(tr Transition) []Message {
		seen = append(seen, tr)
		earlier = append(earlier, tr.Earlier(func(*job.Record) bool { return true }))
		var r *job.Record
		if tr.Replacement != nil {
			r = tr.Replacement()
		}
		replacement = append(replacement, r)
		return nil
	})
	jobs := []*job.Job{{ID: "1", Repo: "site", Branch: "main"}, {ID: "2", Repo: "site", Branch: "dev"},
		{ID: "3", Repo: "site", Branch: "main"}, {ID: "4", Repo: "site", Branch: "main"}}
	for _, jb := range jobs {
		if err := s.Accept(&job.Record{Job: jb, State: job.Failed}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(&job.Record{Job: jobs[2], State: job.Superseded, SupersededBy: "4"}); err != nil {
		t.Fatal(err)
	}
	tr, r := seen[len(seen)-1], replacement[len(replacement)-1]
	if tr.Prev == nil || tr.Prev.State != job.Failed || r == nil || r.Job.ID != "4" {
		t.Fatalf("transition %+v, replacement %+v", tr, r)
	}
	if e := earlier[len(earlier)-1]; e == nil || e.Job.ID != "1" {
		t.Errorf("earlier job of main: %v, want 1", e)
	}
}

// Past its bound, the outbox drops the oldest messages a newer one of the
// same topic replaces; final ones stay.
func TestCompact(t *testing.T) {
	s := openStore(t)
	s.SetPlanner(stateNotes)
	a := &job.Job{ID: "a", Repo: "site", Branch: "main"}
	for _, st := range []job.State{job.Queued, job.Running, job.Interrupted, job.Running, job.Succeeded} {
		if err := s.Put(&job.Record{Job: a, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Compact(2)
	if err != nil || n != 3 {
		t.Fatalf("Compact dropped %d (%v), want 3", n, err)
	}
	msgs, _ := s.Outbox()
	if got := lanes(msgs); !slices.Equal(got, []string{`a "running"`, `a "succeeded"`}) {
		t.Errorf("outbox %v", got)
	}
	if n, _ := s.Compact(0); n != 1 {
		t.Errorf("Compact(0) dropped %d, want 1 (the final message stays)", n)
	}
	rec, _ := s.Get("a")
	if rec.Reports[0].Outcome != job.ReportDropped || rec.Reports[4].Outcome != job.ReportPending {
		t.Errorf("reports %+v", rec.Reports)
	}
}

// The messages an acceptance planned are in the intake log with the job:
// when jobs.db lost both (a kill -9 between the answer and its commit),
// Open puts them into the outbox again, once, with the job's reports.
func TestAcceptedMessagesSurviveInTheIntakeLog(t *testing.T) {
	dir, forget := freshState(t)
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.SetPlanner(stateNotes)
	for _, id := range []string{"a1", "a2"} {
		if err := s.Accept(queued(id), body(id)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	forget()
	for range 2 { // the second Open finds them applied and adds nothing
		s, err = Open(dir, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.Outbox()
		if err != nil {
			t.Fatal(err)
		}
		if got := lanes(msgs); !slices.Equal(got, []string{`a1 "queued"`, `a2 "queued"`}) {
			t.Errorf("outbox after Open %v", got)
		}
		rec, err := s.Get("a2")
		if err != nil || len(rec.Reports) != 1 || rec.Reports[0].Outcome != job.ReportPending {
			t.Errorf("job a2's reports %+v, %v", rec, err)
		}
		s.Close()
	}
}
