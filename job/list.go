package job

// Filter selects records of the job history.
type Filter struct {
	Repo  string
	State State
	// Event selects one event (push, deployment, manual, poll).
	Event string
	// Before, a job id, selects only older jobs: the next page of a list.
	Before string
	// Limit caps the count (default 50).
	Limit int
}

// Receipt answers the submission of a job.
type Receipt struct {
	// ID is the job's id (for a duplicate: the original job's).
	ID string
	// Supersedes is the id of the waiting job this one replaced.
	Supersedes string
	// Duplicate is true when the delivery id was seen before.
	Duplicate bool
	// RetryOf is the job of the same delivery id that did not succeed,
	// which this job tries again.
	RetryOf string
}

// Selects reports whether rec passes the filter's repo, state and event.
func (f Filter) Selects(rec *Record) bool {
	return (f.Repo == "" || rec.Repo == f.Repo) && (f.State == "" || rec.State == f.State) &&
		(f.Event == "" || rec.Event == f.Event)
}
