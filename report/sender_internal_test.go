package report

import (
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/jobstore"
)

// A lane sends at most perMinute requests a minute, and waits for a rate
// limit's reset; other lanes do not wait for it.
func TestLaneLimits(t *testing.T) {
	now := time.Now()
	s := &Sender{lanes: map[string]*laneState{}}
	busy := s.lane("token site")
	for i := range perMinute {
		busy.sent = append(busy.sent, now.Add(time.Duration(i-perMinute)*time.Millisecond))
	}
	reset := s.lane("token reset")
	reset.until = now.Add(30 * time.Second)
	cases := []struct {
		lane string
		want time.Time
	}{
		{"token site", busy.sent[0].Add(time.Minute)},
		{"token reset", reset.until},
		{"token other", time.Time{}},
	}
	for _, tc := range cases {
		if got := s.due(jobstore.Message{Lane: tc.lane}); !got.Equal(tc.want) {
			t.Errorf("lane %s due %v, want %v", tc.lane, got, tc.want)
		}
	}
	busy.sent = trimMinute(busy.sent, now.Add(time.Minute))
	if len(busy.sent) != 0 {
		t.Errorf("%d sends kept a minute later", len(busy.sent))
	}
}
