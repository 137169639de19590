package job

import "regexp"

// shaPattern is what a commit is: a full lowercase SHA-1. go-git v5 reads
// SHA-1 repositories only.
var shaPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ValidSHA reports whether s names a commit as a job must: a full lowercase
// SHA-1, 40 hex digits.
func ValidSHA(s string) bool { return shaPattern.MatchString(s) }

// The job API's wire types, the same for the server (the HTTP listener and
// the control socket) and the client (wh-git-trigger).

// Statuses of the API's answers (the status field of every answer).
const (
	StatusOK        = "ok"
	StatusQueued    = "queued"
	StatusDuplicate = "duplicate"
	StatusIgnored   = "ignored"
	StatusCancelled = "cancelled"
	StatusError     = "error"
)

// Answer is the JSON of every answer that carries no record: an error
// ({"status":"error","error":...,"hint":...}), a queued or duplicate job
// ({"status":"queued","job":ID}, with supersedes or retry_of when it
// replaces a waiting job or tries a failed one again), a cancelled job
// ({"status":"cancelled","job":ID}) and an ignored delivery.
type Answer struct {
	Status     string `json:"status"`
	Job        string `json:"job,omitempty"`
	Supersedes string `json:"supersedes,omitempty"`
	RetryOf    string `json:"retry_of,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	Hint       string `json:"hint,omitempty"`
}

// JobAnswer answers GET /api/jobs/{id}: {"status":"ok","job":<record>},
// the record with the job's fields at its top level.
type JobAnswer struct {
	Status string  `json:"status"`
	Job    *Record `json:"job"`
}

// JobsAnswer answers GET /api/jobs: {"status":"ok","jobs":[<record>...]},
// newest first.
type JobsAnswer struct {
	Status string    `json:"status"`
	Jobs   []*Record `json:"jobs"`
}

// TriggerRequest is the optional JSON body of POST /api/repos/{name}/trigger;
// query parameters of the same names work too.
type TriggerRequest struct {
	Branch      string `json:"branch,omitempty"`
	Environment string `json:"environment,omitempty"`
	// SHA is the exact commit to deploy: a full lowercase SHA-1.
	SHA string `json:"sha,omitempty"`
	// By names who asks, recorded as the job's pusher (default "api").
	By string `json:"by,omitempty"`
	// Push makes the run a push of SHA to Branch, as a git push to the
	// entry's repository is: it deploys the branch's tip as fetched when it
	// runs (SHA being the delivered commit) and its event is push. It needs
	// Branch and SHA.
	Push bool `json:"push,omitempty"`
}

// PushProblem says what is wrong with a trigger request that asks for a
// push (Push set), or "" when nothing is.
func (r TriggerRequest) PushProblem() string {
	switch {
	case !r.Push:
		return ""
	case r.Branch == "" || r.SHA == "":
		return "a push names a branch and the commit pushed to it"
	case r.Environment != "":
		return "a push names a branch, not an environment"
	}
	return ""
}
