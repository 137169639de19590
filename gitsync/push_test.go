package gitsync

import (
	"strings"
	"testing"
)

// A push deploys the tip of its branch as fetched now, and says how the
// commit the forge delivered relates to it.
func TestDeliveredRelation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		depth     int
		deliver   string // "A", "B", "C": the linear history A-B-C; "D": the force-pushed A-D
		forcePush bool   // main moves to D, a child of A, past B and C
		deployedA bool   // A was deployed (and so fetched) before
		want      string
		wantLine  string
	}{
		{"tip", 0, "C", false, false, DeliveredTip, ""},
		{"ancestor, full history", 0, "A", false, false, DeliveredAncestor,
			"delivered commit %A is in the history of main's tip %C; deploying the tip"},
		{"parent of a depth 1 tip", 1, "B", false, false, DeliveredAncestor, "is in the history of main's tip %C"},
		{"beyond a depth 1 tip", 1, "A", false, false, DeliveredUnknown,
			"delivered commit %A is not in the fetched part of the history of main's tip %C"},
		{"beyond a depth 1 tip, deployed before", 1, "A", false, true, DeliveredUnknown, "not in the fetched part"},
		{"ancestor, depth 2", 2, "A", false, true, DeliveredAncestor, "is in the history"},
		{"force-pushed away, full history", 0, "B", true, false, DeliveredNotInHistory,
			"delivered commit %B is not in the history of main's tip %D (the branch was force-pushed); deploying the tip"},
		{"force-pushed away, deployed before", 0, "C", true, true, DeliveredNotInHistory, "force-pushed"},
		{"force-pushed away, depth 1", 1, "B", true, false, DeliveredUnknown, "not in the fetched part"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Depth = tc.depth
			shas := map[string]string{"A": f.up.Commit(t, "main", map[string]string{"v": "A"}, "A")}
			if tc.deployedA {
				f.sync(t, tg)
			}
			shas["B"] = f.up.Commit(t, "main", map[string]string{"v": "B"}, "B")
			shas["C"] = f.up.Commit(t, "main", map[string]string{"v": "C"}, "C")
			tip := shas["C"]
			if tc.forcePush {
				f.up.ForcePush(t, "main", shas["A"])
				shas["D"] = f.up.Commit(t, "main", map[string]string{"v": "D"}, "D")
				tip = shas["D"]
			}
			tg.Delivered = shas[tc.deliver]
			res, log := f.sync(t, tg)
			if res.Commit != tip || res.Tip != tip || res.Delivered != tc.want {
				t.Errorf("result = %+v, want commit and tip %s, delivered %s", res, tip[:7], tc.want)
			}
			line := tc.wantLine
			for k, v := range shas {
				line = strings.ReplaceAll(line, "%"+k, v[:7])
			}
			if line != "" && !strings.Contains(log, line) {
				t.Errorf("log lacks %q:\n%s", line, log)
			}
			if line == "" && strings.Contains(log, "delivered commit") {
				t.Errorf("log speaks of the delivered tip:\n%s", log)
			}
			assertClean(t, f.path, tip)
		})
	}
}

// The walk through the tip's history is bounded: past the bound, whether
// the delivered commit is in it is not known.
func TestDeliveredWalkIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.historyWalk = 3
	first := f.up.Commit(t, "main", map[string]string{"n": "0"}, "0")
	other := f.up.Orphan(t, map[string]string{"x": "x"}, "unrelated")
	for i := range 5 {
		f.up.Commit(t, "main", map[string]string{"n": strings.Repeat("x", i+1)}, "next")
	}
	tg := f.target()
	tg.Depth = 0
	tg.Delivered = first
	if res, _ := f.sync(t, tg); res.Delivered != DeliveredUnknown {
		t.Errorf("delivered = %q past the bound, want %q", res.Delivered, DeliveredUnknown)
	}
	f.s.historyWalk = 10
	tg.Delivered = other
	if res, _ := f.sync(t, tg); res.Delivered != DeliveredNotInHistory {
		t.Errorf("delivered = %q within the bound, want %q", res.Delivered, DeliveredNotInHistory)
	}
}
