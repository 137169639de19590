package jobstore

import (
	"slices"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// List selects by entry, state and event, newest first, and Before pages
// through the history: each page goes on where the last one ended.
func TestListFiltersAndPages(t *testing.T) {
	s := openStore(t)
	start := time.Unix(1_700_000_000, 0)
	events := []string{job.EventPush, job.EventManual, job.EventPush, job.EventPoll, job.EventPush}
	var ids []string
	for i, ev := range events {
		id := "0000000" + string(rune('a'+i))
		rec := &job.Record{Job: &job.Job{ID: id, Repo: "site", Event: ev, Queued: start}, State: job.Succeeded}
		if i == 4 {
			rec.Repo, rec.State = "other", job.Failed
		}
		if err := s.Accept(rec, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cases := []struct {
		name string
		f    job.Filter
		want []string
	}{
		{"all", job.Filter{}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"event", job.Filter{Event: job.EventPush}, []string{ids[4], ids[2], ids[0]}},
		{"entry and event", job.Filter{Repo: "site", Event: job.EventPush}, []string{ids[2], ids[0]}},
		{"state", job.Filter{State: job.Failed}, []string{ids[4]}},
		{"first page", job.Filter{Limit: 2}, []string{ids[4], ids[3]}},
		{"next page", job.Filter{Limit: 2, Before: ids[3]}, []string{ids[2], ids[1]}},
		{"last page", job.Filter{Limit: 2, Before: ids[1]}, []string{ids[0]}},
		{"before a gone job", job.Filter{Before: ids[2] + "0"}, []string{ids[2], ids[1], ids[0]}},
		{"before all", job.Filter{Before: "zzzz"}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"before none", job.Filter{Before: "0"}, nil},
		{"page with event", job.Filter{Event: job.EventPush, Before: ids[4]}, []string{ids[2], ids[0]}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := s.List(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
