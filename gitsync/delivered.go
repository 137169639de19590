package gitsync

import "github.com/go-git/go-git/v5/plumbing"

// relate says how t.Delivered, the commit a push delivered, relates to the
// tip that is checked out instead (a Delivered* constant), and writes a line
// to the job log when it is not the tip.
func (s *Syncer) relate(wc *workingCopy, t Target, tip plumbing.Hash, jl *jobLog) string {
	delivered := plumbing.NewHash(t.Delivered)
	rel := s.inHistory(wc, tip, delivered)
	what := "delivered commit " + short(delivered)
	where := "the history of " + plumbing.ReferenceName(t.Ref).Short() + "'s tip " + short(tip)
	switch rel {
	case DeliveredAncestor:
		jl.printf("%s is in %s; deploying the tip", what, where)
	case DeliveredNotInHistory:
		jl.printf("%s is not in %s (the branch was force-pushed); deploying the tip", what, where)
	case DeliveredUnknown:
		jl.printf("%s is not in the fetched part of %s (a shallow copy: it may be older); deploying the tip", what, where)
	}
	return rel
}

// inHistory walks the local history of tip, breadth first, looking for c.
// A walk that meets a commit whose parent is not here (the shallow
// boundary) or that reads s.historyWalk commits without an answer cannot
// say c is not in the history.
func (s *Syncer) inHistory(wc *workingCopy, tip, c plumbing.Hash) string {
	if c == tip {
		return DeliveredTip
	}
	seen := map[plumbing.Hash]bool{tip: true}
	queue := []plumbing.Hash{tip}
	complete := true
	for ; len(queue) > 0; queue = queue[1:] {
		if len(seen) > s.historyWalk {
			return DeliveredUnknown
		}
		commit, err := wc.repo.CommitObject(queue[0])
		if err != nil {
			complete = false // beyond the fetched history
			continue
		}
		for _, p := range commit.ParentHashes {
			if p == c {
				return DeliveredAncestor
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	if complete {
		return DeliveredNotInHistory
	}
	return DeliveredUnknown
}
