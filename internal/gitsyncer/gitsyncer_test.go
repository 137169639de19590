package gitsyncer_test

import (
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/job"
)

// gitsync and job name how a delivered commit relates to the tip with the
// same words: a result passes from one to the other unchanged.
func TestDeliveredWordsAgree(t *testing.T) {
	pairs := [][2]string{
		{gitsync.DeliveredTip, job.DeliveredTip},
		{gitsync.DeliveredAncestor, job.DeliveredAncestor},
		{gitsync.DeliveredNotInHistory, job.DeliveredNotInHistory},
		{gitsync.DeliveredUnknown, job.DeliveredUnknown},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("gitsync says %q where job says %q", p[0], p[1])
		}
	}
}
