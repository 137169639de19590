package report

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/settings"
)

// SignatureHeader carries a webhook body's HMAC-SHA256 with the target's
// secret: "sha256=" and the lowercase hex digest, as GitHub signs.
const SignatureHeader = "X-Wh-Gitd-Signature-256"

// Notification is the JSON body a webhook target receives.
type Notification struct {
	// Event is failure, recovery or success.
	Event string `json:"event"`
	// Text says it in one line, as chat targets show it.
	Text string      `json:"text"`
	Job  NotifiedJob `json:"job"`
}

// NotifiedJob is what a notification tells of its job.
type NotifiedJob struct {
	ID          string    `json:"id"`
	Repo        string    `json:"repo"`
	Provider    string    `json:"provider"`
	Event       string    `json:"event"`
	Branch      string    `json:"branch,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Ref         string    `json:"ref,omitempty"`
	SHA         string    `json:"sha,omitempty"`
	Deployed    string    `json:"deployed,omitempty"`
	State       job.State `json:"state"`
	Error       string    `json:"error,omitempty"`
	Queued      time.Time `json:"queued"`
	Started     time.Time `json:"started,omitzero"`
	Finished    time.Time `json:"finished,omitzero"`
	// URL is the job's page ({public_url}/jobs/{id}); empty without public_url.
	URL string `json:"url,omitempty"`
}

// notifyEvent names a final state for notify targets: failure, recovery
// (the first success after a failure of the same branch or environment),
// success, or "" for states nobody is told about.
func notifyEvent(t jobstore.Transition) string {
	switch t.Next.State {
	case job.Failed, job.TimedOut:
		return "failure"
	case job.Succeeded:
	default:
		return ""
	}
	last := t.Earlier(func(r *job.Record) bool {
		return r.State == job.Succeeded || r.State == job.Failed || r.State == job.TimedOut
	})
	if last != nil && last.State != job.Succeeded {
		return "recovery"
	}
	return "success"
}

// notifications plans a message to every target of the entry that asks
// for the job's event.
func notifications(set *settings.Settings, repo *settings.Repo, t jobstore.Transition) []jobstore.Message {
	if len(repo.Notify) == 0 && len(set.Notify) == 0 {
		return nil // and no looking back through the history for a recovery
	}
	ev := notifyEvent(t)
	if ev == "" {
		return nil
	}
	n := notification(set, t.Next, ev)
	payload, _ := json.Marshal(n)
	var out []jobstore.Message
	add := func(scope string, targets []*settings.Notify) {
		for _, tg := range targets {
			if tg == nil || !tg.Wants(ev) {
				continue
			}
			b := body{Kind: kindNotify, Entry: repo.Name, Scope: scope, Target: tg.Name, State: ev,
				Text: n.Text, Payload: payload}
			name := "notify " + tg.Name
			out = append(out, message(name+" "+scope, name+" "+scope, false, b, name))
		}
	}
	add(repo.Name, repo.Notify)
	add("", set.Notify)
	return out
}

func notification(set *settings.Settings, rec *job.Record, ev string) Notification {
	jb := rec.Job
	n := Notification{Event: ev, Job: NotifiedJob{ID: jb.ID, Repo: jb.Repo, Provider: jb.Provider, Event: jb.Event,
		Branch: jb.Branch, Environment: jb.Environment, Ref: jb.Ref, SHA: jb.SHA, Deployed: rec.Deployed,
		State: rec.State, Error: rec.Error, Queued: jb.Queued, Started: rec.Started, Finished: rec.Finished,
		URL: set.JobURL(jb.ID)}}
	what := fmt.Sprintf("%s %s", jb.Repo, jb.Target())
	switch ev {
	case "failure":
		n.Text = fmt.Sprintf("wh-gitd: %s %s at %s: %s", what, rec.State, short(jb.SHA), rec.Error)
	case "recovery":
		n.Text = fmt.Sprintf("wh-gitd: %s recovered: deployed %s", what, short(rec.Deployed))
	default:
		n.Text = fmt.Sprintf("wh-gitd: %s deployed %s", what, short(rec.Deployed))
	}
	if n.Job.URL != "" {
		n.Text += " " + n.Job.URL
	}
	n.Text = clip(n.Text, 1000)
	return n
}

// notifyTarget finds a message's target in the settings in force.
func notifyTarget(set *settings.Settings, b body) (*settings.Notify, error) {
	list := set.Notify
	if b.Scope != "" {
		repo, ok := set.Repo(b.Scope)
		if !ok {
			return nil, fmt.Errorf("entry %s is no longer in the settings", b.Scope)
		}
		list = repo.Notify
	}
	for _, n := range list {
		if n != nil && n.Name == b.Target {
			return n, nil
		}
	}
	return nil, fmt.Errorf("notify target %s is no longer in the settings", b.Target)
}

// notifyBody is what a target of type typ receives.
func notifyBody(typ string, b body) []byte {
	var v any
	switch typ {
	case "webhook":
		return b.Payload
	case "discord":
		v = map[string]string{"content": clip(b.Text, 2000)}
	default: // slack, mattermost, matrix (hookshot-style incoming webhooks)
		v = map[string]string{"text": b.Text}
	}
	raw, _ := json.Marshal(v)
	return raw
}

// Sign returns the signature header's value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
