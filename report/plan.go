// Package report talks back out about jobs: it plans which statuses and
// notifications a job's state change causes (GitHub deployment statuses,
// commit statuses on GitHub, GitLab, Gitea and Forgejo, notify targets),
// and sends them from the job store's outbox with one sender that keeps
// each lane in order, honours rate limits and retries until it gives up.
// It reaches only the api_urls and notify targets of the settings, never
// a URL from a payload. The job store keeps the messages opaque; the
// forges' contracts are known here alone.
package report

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Kinds of message.
const (
	kindDeployment = "deployment_status"
	kindCommit     = "commit_status"
	kindNotify     = "notify"
)

// body is what a message holds for the sender: enough to build the
// request from the settings in force when it is sent (credentials and
// URLs are looked up then, never stored).
type body struct {
	Kind  string `json:"kind"`
	Entry string `json:"entry"`
	Forge string `json:"forge,omitempty"`
	// Repository is the forge's owner/name (GitLab: the project path).
	Repository     string `json:"repository,omitempty"`
	Deployment     int64  `json:"deployment,omitempty"`
	SHA            string `json:"sha,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Context        string `json:"context,omitempty"`
	State          string `json:"state,omitempty"`
	Description    string `json:"description,omitempty"`
	TargetURL      string `json:"target_url,omitempty"`
	EnvironmentURL string `json:"environment_url,omitempty"`
	// Scope is the entry of a notify target, "" for a global one; Target
	// is its name.
	Scope   string          `json:"scope,omitempty"`
	Target  string          `json:"target,omitempty"`
	Text    string          `json:"text,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// phase is the step of a job's life a state change reaches.
type phase int

const (
	phaseNone phase = iota
	phaseQueued
	phaseRunning
	phaseDeployed // running, and the commit it deploys is now known
	phaseFinal
)

// Planner plans the messages of state changes with the settings in force.
// Make it with NewPlanner; Plan is the job store's planner.
type Planner struct {
	set atomic.Pointer[settings.Settings]
}

// NewPlanner returns a planner that reads set.
func NewPlanner(set *settings.Settings) *Planner {
	p := &Planner{}
	p.set.Store(set)
	return p
}

// SetSettings replaces the settings (a reload).
func (p *Planner) SetSettings(set *settings.Settings) { p.set.Store(set) }

// Plan returns the messages t causes: none, or the statuses and
// notifications of the entry's settings for its new phase.
func (p *Planner) Plan(t jobstore.Transition) []jobstore.Message {
	set := p.set.Load()
	rec := t.Next
	repo, ok := set.Repo(rec.Repo)
	if !ok {
		return nil
	}
	ph := phaseOf(t.Prev, rec)
	if ph == phaseNone {
		return nil
	}
	var out []jobstore.Message
	if repo.Status.Enabled() {
		out = append(out, deploymentStatuses(set, repo, t, ph)...)
		out = append(out, commitStatuses(set, repo, t, ph)...)
	}
	if ph == phaseFinal {
		out = append(out, notifications(set, repo, t)...)
	}
	return out
}

// phaseOf says which phase the change from prev to next reaches. A job
// run again after an interruption is already running for the forge.
func phaseOf(prev, next *job.Record) phase {
	was := job.State("")
	if prev != nil {
		was = prev.State
	}
	switch {
	case was.Final() && was != "":
		return phaseNone
	case next.State.Final():
		return phaseFinal
	case next.State == job.Queued && prev == nil:
		return phaseQueued
	case next.State == job.Running && (was == job.Queued || was == ""):
		return phaseRunning
	case next.State == job.Running && was == job.Running && prev.Deployed == "" && next.Deployed != "":
		return phaseDeployed
	}
	return phaseNone
}

// message wraps b as an outbox message on lane, about topic; to names its
// target in the job's record.
func message(lane, topic string, final bool, b body, to string) jobstore.Message {
	raw, _ := json.Marshal(b)
	return jobstore.Message{Lane: lane, Topic: topic, Final: final, Body: raw, Created: time.Now(),
		Report: job.Report{To: to, State: b.State}}
}

// lane is the token a status is posted with: one installation of an App,
// or the entry's token.
func lane(repo *settings.Repo) string {
	st := repo.Status
	if st.App() {
		return fmt.Sprintf("app %s %d", st.APIURL, st.InstallationID)
	}
	return "token " + repo.Name
}

// outcome is how a job ended, in words the forge may show anyone who sees
// the repository: never the job's error, which can name a command of the
// settings or a remote's URL (the job's page has it).
func outcome(t jobstore.Transition) string {
	rec := t.Next
	switch rec.State {
	case job.Succeeded:
		return "deployed " + short(rec.Deployed)
	case job.Skipped:
		return "already deployed " + short(rec.Deployed)
	case job.Superseded:
		s := "superseded by job " + rec.SupersededBy
		if t.Replacement == nil {
			return s
		}
		if r := t.Replacement(); r != nil && r.DeploymentID != 0 {
			s += fmt.Sprintf(" (deployment %d)", r.DeploymentID)
		}
		return s
	case job.Cancelled:
		return "cancelled"
	}
	main := rec.MainCommands()
	n := len(main)
	switch {
	case syncFailed(rec):
		return "the sync failed: see the job's log"
	case !rec.CommandFailed():
		return string(rec.State) + ": see the job's log"
	case rec.State == job.TimedOut:
		return fmt.Sprintf("command %d timed out", n)
	}
	return fmt.Sprintf("command %d failed with exit code %d", n, main[n-1].ExitCode)
}

// syncFailed reports whether a failed job never reached its commands.
func syncFailed(rec *job.Record) bool {
	return rec.State == job.Failed && rec.Deployed == "" && len(rec.MainCommands()) == 0
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// clip cuts s to at most n characters (not bytes), marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
