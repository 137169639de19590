// Package job is the vocabulary that the other packages of wh-gitd speak:
// a job (one request to bring a working copy to a commit and run the
// commands of a branch or environment), its states, the record kept of it,
// what a sync did, the errors callers act on, the rule of what a commit is,
// and the job API's wire types, which server and client share. It imports
// nothing of wh-gitd and does no I/O.
package job

import (
	"encoding/json"
	"time"
)

// State is where a job is in its lifecycle:
// queued → running → succeeded | failed | timed_out | cancelled, or
// queued → superseded when a newer push to the same branch arrived first.
type State string

// The states of a job.
const (
	Queued      State = "queued"
	Running     State = "running"
	Succeeded   State = "succeeded"
	Failed      State = "failed"
	TimedOut    State = "timed_out"
	Cancelled   State = "cancelled"
	Superseded  State = "superseded"
	Interrupted State = "interrupted"
	// Skipped: a push whose branch tip was already deployed by a job that
	// succeeded; nothing ran (unless the entry sets always_run).
	Skipped State = "skipped"
)

// Events a job can come from.
const (
	EventPush       = "push"
	EventDeployment = "deployment"
	EventManual     = "manual"
	// EventPoll is a job started by the safety-net poll.
	EventPoll = "poll"
)

// Job is one request to bring a repository entry's working copy to a commit
// and run the commands of a branch or an environment. Exactly one of Branch
// and Environment names the configured target.
type Job struct {
	ID          string `json:"id"`
	Repo        string `json:"repo"`
	Provider    string `json:"provider"`
	Event       string `json:"event"`
	Delivery    string `json:"delivery,omitempty"`
	Ref         string `json:"ref"`
	Branch      string `json:"branch,omitempty"`
	Environment string `json:"environment,omitempty"`
	Before      string `json:"before,omitempty"`
	SHA         string `json:"sha,omitempty"`
	Pusher      string `json:"pusher,omitempty"`
	// By names who started a manual run: "api", wh-git-trigger's user, or
	// a session of the status page.
	By string `json:"by,omitempty"`
	// RetryOf is the job whose delivery this one tries again (a forge's
	// "Redeliver" after a job that did not succeed).
	RetryOf string `json:"retry_of,omitempty"`
	// DeploymentID is the forge's id of the deployment a job deploys
	// (GitHub's deployment.id), to which its statuses are posted.
	DeploymentID int64     `json:"deployment_id,omitempty"`
	Queued       time.Time `json:"queued"`
	// Payload is the raw delivery body, handed to commands as $WH_PAYLOAD.
	Payload []byte `json:"-"`
}

// FollowsTip reports whether the job deploys its branch's tip as fetched
// when it runs (a push or a poll), rather than exactly the commit it names
// (a deployment, or a manual run naming a commit).
func (j *Job) FollowsTip() bool {
	return j.Event == EventPush || j.Event == EventPoll
}

// Key says which jobs replace each other while waiting: those of one
// entry's same branch or environment.
func (j *Job) Key() string {
	if j.Environment != "" {
		return j.Repo + "\x00environment\x00" + j.Environment
	}
	return j.Repo + "\x00branch\x00" + j.Branch
}

// Target names the configured branch or environment for messages.
func (j *Job) Target() string {
	if j.Environment != "" {
		return "environment " + j.Environment
	}
	return "branch " + j.Branch
}

// CommandResult records one command of a job. In JSON its duration is
// whole milliseconds, duration_ms.
type CommandResult struct {
	Command  string        `json:"command"`
	ExitCode int           `json:"exit_code"`
	Duration time.Duration `json:"-"`
	// Phase is PhaseOnFailure or PhaseAlways for the follow-up commands
	// that ran after the main ones; empty for the main commands.
	Phase string `json:"phase,omitempty"`
}

// Phases of follow-up commands, which never change a job's result.
const (
	PhaseOnFailure = "on_failure"
	PhaseAlways    = "always"
)

type commandResultJSON struct {
	Command    string `json:"command"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Phase      string `json:"phase,omitempty"`
	// Duration is the nanoseconds of records written before duration_ms.
	Duration int64 `json:"duration,omitempty"`
}

// MarshalJSON writes the duration as duration_ms.
func (c CommandResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(commandResultJSON{Command: c.Command, ExitCode: c.ExitCode,
		DurationMS: c.Duration.Milliseconds(), Phase: c.Phase})
}

// UnmarshalJSON reads duration_ms, and the nanoseconds of older records.
func (c *CommandResult) UnmarshalJSON(b []byte) error {
	var v commandResultJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.Command, c.ExitCode, c.Phase = v.Command, v.ExitCode, v.Phase
	c.Duration = time.Duration(v.DurationMS) * time.Millisecond
	if v.DurationMS == 0 && v.Duration != 0 {
		c.Duration = time.Duration(v.Duration)
	}
	return nil
}

// Known reports whether s is one of the states above.
func (s State) Known() bool {
	switch s {
	case Queued, Running, Succeeded, Failed, TimedOut, Cancelled, Superseded, Interrupted, Skipped:
		return true
	}
	return false
}

// Final reports whether a job in state s will never run again.
func (s State) Final() bool {
	switch s {
	case Queued, Running, Interrupted:
		return false
	}
	return true
}

// Record is what the job history keeps of a job: the request, where it is in
// its lifecycle, and what it did. In JSON the job's fields stand at the top
// level, next to the record's (one shape in the store, the API and the CLI).
type Record struct {
	*Job
	// Deployed is the commit the job checked out (for a push, the branch's
	// tip, which may be newer than the delivered Job.SHA).
	Deployed string     `json:"deployed,omitempty"`
	State    State      `json:"state"`
	Attempts int        `json:"attempts,omitempty"`
	Started  time.Time  `json:"started,omitzero"`
	Finished time.Time  `json:"finished,omitzero"`
	Sync     SyncResult `json:"sync,omitzero"`
	// SyncMS is how long the sync took (fetch and checkout), in milliseconds.
	SyncMS   int64           `json:"sync_ms,omitempty"`
	Commands []CommandResult `json:"commands,omitempty"`
	// Error says why the job did not succeed.
	Error string `json:"error,omitempty"`
	// Note explains what happened beyond the state: why a job was skipped,
	// or that a push's delivered commit was not the tip it deployed.
	Note string `json:"note,omitempty"`
	// SupersededBy is the id of the job that replaced this one.
	SupersededBy string `json:"superseded_by,omitempty"`
	// Log is the path of the job's log file.
	Log string `json:"log,omitempty"`
	// Group is the process group of the command running now, so that a
	// daemon that died can kill it on its next start.
	Group *Group `json:"group,omitempty"`
	// Reports are the statuses and notifications the job's state changes
	// sent out, and how each went. The job store keeps them: a record
	// written through the store keeps the reports it already has.
	Reports []Report `json:"reports,omitempty"`
}

// MainCommands is the record's commands without the follow-up ones
// (on_failure, always).
func (rec *Record) MainCommands() []CommandResult {
	var main []CommandResult
	for _, c := range rec.Commands {
		if c.Phase == "" {
			main = append(main, c)
		}
	}
	return main
}

// CommandFailed reports whether the job ended because one of its commands
// failed or timed out, rather than because it could not deploy at all
// (the sync failed, or it was interrupted once too often).
func (rec *Record) CommandFailed() bool {
	if rec.State == TimedOut {
		return true
	}
	main := rec.MainCommands()
	return rec.State == Failed && len(main) > 0 && main[len(main)-1].ExitCode != 0
}

// UnmarshalJSON reads a record, also one written when the job's fields
// were nested under "job".
func (rec *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	var v struct {
		plain
		Legacy *Job `json:"job"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*rec = Record(v.plain)
	if v.Legacy != nil {
		rec.Job = v.Legacy
	}
	if rec.Job == nil {
		rec.Job = &Job{}
	}
	return nil
}

// Group names a process group beyond doubt: its id and its leader's start
// time (in clock ticks since boot, as /proc/PID/stat says).
type Group struct {
	ID    int    `json:"id"`
	Start uint64 `json:"start"`
}
