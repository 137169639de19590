package job

// How a push's delivered commit relates to the tip that was deployed
// (SyncResult.Delivered).
const (
	// DeliveredTip: the delivered commit is the tip.
	DeliveredTip = "tip"
	// DeliveredAncestor: the delivered commit is in the tip's history.
	DeliveredAncestor = "ancestor"
	// DeliveredNotInHistory: the tip's whole history was searched and the
	// delivered commit is not in it (the branch was force-pushed past it).
	DeliveredNotInHistory = "not_in_history"
	// DeliveredUnknown: the delivered commit is not in the history fetched
	// (a shallow copy), so whether it is in the tip's history is not known.
	DeliveredUnknown = "beyond_fetched_history"
)

// SyncResult says what a job's sync did to its working copy.
type SyncResult struct {
	// Commit is the full SHA now checked out.
	Commit string `json:"commit"`
	// Previous is the commit checked out before, empty after a clone.
	Previous string `json:"previous,omitempty"`
	// Tip is what the ref pointed at when it was fetched, when it was.
	Tip string `json:"tip,omitempty"`
	// Delivered says how a push's delivered commit relates to the tip
	// (the Delivered* constants); empty for other jobs.
	Delivered string `json:"delivered,omitempty"`
	// Subject and Author are the first line of the checked-out commit's
	// message and its author's name.
	Subject string `json:"subject,omitempty"`
	Author  string `json:"author,omitempty"`
	// Cloned is true only when the sync made the working copy's first clone.
	Cloned bool `json:"cloned"`
	// Written and Removed count the files the checkout changed.
	Written int `json:"written"`
	Removed int `json:"removed"`
	// Overwritten lists tracked files whose local edits were replaced, and
	// untracked files that stood where the commit has a file.
	Overwritten []string `json:"overwritten,omitempty"`
	// Cleaned counts the untracked and ignored paths removed by clean: true.
	Cleaned int `json:"cleaned,omitempty"`
}
