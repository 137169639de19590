package main

import (
	"testing"

	"github.com/wh-gitd/wh-gitd/job"
)

func TestIdleTrimDue(t *testing.T) {
	var it idleTrim
	steps := []struct {
		name  string
		ended int  // jobs ending before the check
		busy  bool // jobs queued or running at the check
		want  bool
	}{
		{"nothing ran since start", 0, false, false},
		{"a job just ended", 1, false, false},
		{"quiet since", 0, false, true},
		{"still quiet: already given back", 0, false, false},
		{"two more ended", 2, false, false},
		{"quiet, but one is running", 0, true, false},
		{"quiet and idle", 0, false, true},
		{"one ended, then a check while it is quiet", 1, false, false},
		{"busy again", 0, true, false},
		{"idle", 0, false, true},
	}
	for _, st := range steps {
		for range st.ended {
			it.jobEnded(job.Record{})
		}
		if got := it.due(st.busy); got != st.want {
			t.Fatalf("%s: due = %v, want %v", st.name, got, st.want)
		}
	}
}
