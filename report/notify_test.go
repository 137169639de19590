package report_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/report"
)

const hookSecret = "notify-secret-0123456789"

// notifyEntry is an entry with no status and the given notify targets.
func notifyEntry(targets string) testkit.Repo {
	return testkit.Repo{Name: "site", Extra: "notify: " + targets}
}

// Targets hear of failures and recoveries by default, of every result
// with on: [all], each in its own format; a webhook's body is signed.
func TestNotifications(t *testing.T) {
	hook, slack, discord := forgetest.NewHook(t, hookSecret), forgetest.NewHook(t, ""), forgetest.NewHook(t, "")
	targets := fmt.Sprintf("[{type: webhook, url: %q, secret: %q}, {type: slack, url: %q, on: [all]}, {type: discord, url: %q, on: [failure]}]",
		hook.URL, hookSecret, slack.URL, discord.URL)
	r := newRig(t, testkit.File{Repos: []testkit.Repo{notifyEntry(targets)}})
	results := []job.Record{
		{State: job.Succeeded, Deployed: sha1},
		{State: job.Failed, Error: "command make exited 2"},
		{State: job.TimedOut, Error: "command sleep timed out"},
		{State: job.Succeeded, Deployed: sha2},
		{State: job.Succeeded, Deployed: sha2},
	}
	for _, res := range results {
		jb := r.accept(t, push("github"))
		r.run(t, jb, res)
		r.reports(t, jb.ID)
	}
	events := func(h *forgetest.Hook, key string) []string {
		var out []string
		for _, c := range h.Calls() {
			if len(c.Problems) > 0 {
				t.Errorf("%s: %v", c.Path, c.Problems)
			}
			s, _ := c.Body[key].(string)
			out = append(out, s)
		}
		return out
	}
	if got := events(hook, "event"); !slices.Equal(got, []string{"failure", "failure", "recovery"}) {
		t.Errorf("webhook got %v", got)
	}
	if got := events(slack, "text"); len(got) != 5 || !strings.Contains(got[3], "recovered") ||
		!strings.Contains(got[1], "failed at 1111111: command make exited 2 https://deploy.example.com/jobs/") {
		t.Errorf("slack got %q", got)
	}
	if got := events(discord, "content"); len(got) != 2 {
		t.Errorf("discord got %q", got)
	}
	first := hook.Calls()[0]
	j, _ := first.Body["job"].(map[string]any)
	if first.Header.Get("X-Wh-Gitd-Event") != "failure" || j["state"] != "failed" || j["repo"] != "site" ||
		j["error"] != "command make exited 2" || j["branch"] != "main" {
		t.Errorf("webhook body %v", first.Body)
	}
}

// A target that never answers times out; the job ended long before, and
// the statuses of other lanes are not held up.
func TestNotifyTargetHangs(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	hang := forgetest.NewHook(t, "")
	hang.Hang = true
	entry := ghEntry(srv, "")
	entry.Extra += fmt.Sprintf("\nnotify: [{type: matrix, url: %q}]", hang.URL)
	r := newRig(t, testkit.File{Top: "report: {backoff: 1h, timeout: 300ms}", Repos: []testkit.Repo{entry}})
	jb := r.accept(t, deployment(11))
	r.run(t, jb, job.Record{State: job.Failed, Error: "command make exited 2", Deployed: sha1})
	testkit.Eventually(t, "the hanging target to be tried once", testkit.Patience, func() bool {
		rec, _ := r.store.Get(jb.ID)
		return len(rec.Reports) == 4 && rec.Reports[3].Attempts == 1
	})
	rec, _ := r.store.Get(jb.ID)
	n := rec.Reports[3]
	if n.Outcome != job.ReportPending || !strings.Contains(n.Error, "deadline exceeded") {
		t.Errorf("notification %+v, want pending after a timeout", n)
	}
	testkit.Eventually(t, "the deployment's statuses", testkit.Patience, func() bool { return len(srv.States()) == 3 })
	if r.posts.get("notify network") != 1 {
		t.Errorf("OnPost: %v", r.posts.m)
	}
}

// Without notify targets the planner never looks back through the
// history for a recovery: that scan ran inside every state change's
// transaction, once per job that succeeded.
func TestNoTargetsNoLookBack(t *testing.T) {
	set := testkit.File{Repos: []testkit.Repo{{Name: "site"}}}.Load(t, t.TempDir())
	plan := report.NewPlanner(set).Plan
	looked := false
	jb := &job.Job{ID: "j1", Repo: "site", Provider: "github", Event: job.EventPush, Branch: "main"}
	msgs := plan(jobstore.Transition{Prev: &job.Record{Job: jb, State: job.Running},
		Next:    &job.Record{Job: jb, State: job.Succeeded, Deployed: sha1},
		Earlier: func(func(*job.Record) bool) *job.Record { looked = true; return nil }})
	if looked || len(msgs) != 0 {
		t.Errorf("looked back: %v; messages %v", looked, msgs)
	}
}
