package job

import "time"

// Outcomes of a report (a status or a notification sent out about a job).
const (
	ReportPending = "pending" // waiting in the outbox to be sent, or sent again
	ReportSent    = "sent"    // the target accepted it
	ReportFailed  = "failed"  // the target refused it; it is not sent again
	ReportGaveUp  = "gave_up" // it could not be sent in time
	ReportDropped = "dropped" // a newer report about the same thing replaced it unsent
)

// Report is one status or notification a job's state change caused: what
// it says, to whom, and how sending it went.
type Report struct {
	// ID is the report's place in the outbox.
	ID string `json:"id"`
	// To names the target: "github deployment 42", "gitlab commit 1a2b3c4",
	// "notify ops".
	To string `json:"to"`
	// State is what the report says: a status's state, a notification's event.
	State string `json:"state"`
	// Outcome is pending, sent, failed, gave_up or dropped.
	Outcome  string `json:"outcome"`
	Attempts int    `json:"attempts,omitempty"`
	// Code is the HTTP status of the last answer (0: none yet, or no answer).
	Code int `json:"code,omitempty"`
	// Error says why the last attempt did not succeed.
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}
