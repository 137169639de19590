package report_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// deployment is a GitHub deployment job of environment production.
func deployment(id int64) job.Job {
	return job.Job{Repo: "site", Provider: "github", Event: job.EventDeployment, Environment: "production",
		Branch: "main", SHA: sha1, DeploymentID: id}
}

// A deployment gets queued, in_progress, then exactly one final state, in
// order, whatever the job's end.
func TestDeploymentStatuses(t *testing.T) {
	cases := []struct {
		name  string
		final job.Record
		want  string
		desc  string
	}{
		{"success", job.Record{State: job.Succeeded, Deployed: sha1, Commands: []job.CommandResult{{Command: "true"}}},
			"success", "deployed 1111111"},
		{"commands failed", job.Record{State: job.Failed, Deployed: sha1, Error: "command make exited 2",
			Commands: []job.CommandResult{{Command: "true"}, {Command: "make", ExitCode: 2}}}, "failure", "command 2 failed with exit code 2"},
		{"timed out", job.Record{State: job.TimedOut, Deployed: sha1, Error: "command sleep timed out",
			Commands: []job.CommandResult{{Command: "sleep 600", ExitCode: -1}}}, "failure", "command 1 timed out"},
		{"sync failed", job.Record{State: job.Failed, Error: "sync site: fetch https://user:pass@example.com: " + strings.Repeat("x", 300)},
			"error", "the sync failed: see the job's log"},
		{"sync failed, on_failure ran", job.Record{State: job.Failed, Error: "sync site: not found",
			Commands: []job.CommandResult{{Command: "notify", Phase: job.PhaseOnFailure}}},
			"error", "the sync failed: see the job's log"},
		{"commands failed, always ran", job.Record{State: job.Failed, Deployed: sha1, Commands: []job.CommandResult{
			{Command: "make", ExitCode: 2}, {Command: "cleanup", Phase: job.PhaseAlways}}},
			"failure", "command 1 failed with exit code 2"},
		{"interrupted once too often", job.Record{State: job.Failed, Deployed: sha1, Attempts: 3,
			Error: "interrupted in each of its 3 attempts", Commands: []job.CommandResult{{Command: "true"}}},
			"error", "failed: see the job's log"},
		{"cancelled", job.Record{State: job.Cancelled, Error: "job cancelled"}, "error", "cancelled"},
		{"skipped", job.Record{State: job.Skipped, Deployed: sha1, Note: "tip already deployed"}, "success", "already deployed 1111111"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := forgetest.New(t, forgetest.GitHub, token)
			r := newRig(t, testkit.File{Repos: []testkit.Repo{ghEntry(srv, "")}})
			jb := r.accept(t, deployment(42))
			r.run(t, jb, tc.final)
			reports := r.reports(t, jb.ID)
			srv.Check(t)
			if got := srv.States(); !slices.Equal(got, []string{"queued", "in_progress", tc.want}) {
				t.Fatalf("states %v, want queued, in_progress, %s", got, tc.want)
			}
			last := srv.Calls()[2]
			if d := last.Body["description"].(string); d != tc.desc || strings.Contains(d, tc.final.Error) && tc.final.Error != "" {
				t.Errorf("description %q, want %q (never the job's error)", d, tc.desc)
			}
			if last.Path != "/repos/acme/site/deployments/42/statuses" ||
				last.Body["log_url"] != "https://deploy.example.com/jobs/"+jb.ID ||
				last.Body["environment_url"] != "https://www.example.com" {
				t.Errorf("last status %s", last)
			}
			for _, rp := range reports {
				if rp.Outcome != job.ReportSent || rp.Attempts != 1 || rp.Code != http.StatusCreated {
					t.Errorf("report %+v", rp)
				}
			}
		})
	}
}

// A deployment superseded while it waited ends error, naming the job and
// the deployment that replaced it.
func TestDeploymentSuperseded(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	r := newRig(t, testkit.File{Repos: []testkit.Repo{ghEntry(srv, "")}})
	old := r.accept(t, deployment(41))
	newer := r.accept(t, deployment(42))
	r.put(t, job.Record{Job: old, State: job.Superseded, SupersededBy: newer.ID})
	r.reports(t, old.ID)
	srv.Check(t)
	var states []string
	for _, c := range srv.Calls() {
		if strings.Contains(c.Path, "/41/") {
			states = append(states, c.State())
			if c.State() == "error" && c.Body["description"] != "superseded by job "+newer.ID+" (deployment 42)" {
				t.Errorf("description %q", c.Body["description"])
			}
		}
	}
	if !slices.Equal(states, []string{"queued", "error"}) {
		t.Errorf("deployment 41 got %v, want queued, error", states)
	}
}

// An interrupted job that runs again is still in_progress for the forge:
// nothing is posted until its one final state.
func TestDeploymentInterruptedThenRunAgain(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	r := newRig(t, testkit.File{Repos: []testkit.Repo{ghEntry(srv, "")}})
	jb := r.accept(t, deployment(7))
	r.put(t, job.Record{Job: jb, State: job.Running})
	r.put(t, job.Record{Job: jb, State: job.Interrupted})
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	r.reports(t, jb.ID)
	srv.Check(t)
	if got := srv.States(); !slices.Equal(got, []string{"queued", "in_progress", "success"}) {
		t.Errorf("states %v", got)
	}
}
