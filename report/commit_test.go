package report_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// push is a push job of branch main delivering sha1.
func push(provider string) job.Job {
	return job.Job{Repo: "site", Provider: provider, Event: job.EventPush, Branch: "main", Ref: "refs/heads/main", SHA: sha1}
}

// commitEntry is an entry of provider posting commit statuses to srv.
func commitEntry(provider string, srv *forgetest.Server) testkit.Repo {
	return testkit.Repo{Name: "site", Provider: provider, Repository: "acme/site",
		Extra: fmt.Sprintf("status: {api_url: %q, token_file: token.txt, commits: true}", srv.APIURL)}
}

// A push's commit gets its status on each forge: waiting and running,
// then the result, on the deployed commit and on the delivered one when
// the job deployed a newer tip.
func TestCommitStatuses(t *testing.T) {
	cases := []struct {
		provider, forge string
		path            string
		want            []string // states on sha1 (delivered), in order
		deployed        []string // states on sha2 (deployed tip)
	}{
		{"github", forgetest.GitHub, "/repos/acme/site/statuses/", []string{"pending", "pending", "failure"}, []string{"pending", "failure"}},
		{"gitlab", forgetest.GitLab, "/api/v4/projects/acme%2Fsite/statuses/", []string{"pending", "running", "failed"}, []string{"running", "failed"}},
		{"gitea", forgetest.Gitea, "/api/v1/repos/acme/site/statuses/", []string{"pending", "pending", "failure"}, []string{"pending", "failure"}},
		{"forgejo", forgetest.Gitea, "/api/v1/repos/acme/site/statuses/", []string{"pending", "pending", "failure"}, []string{"pending", "failure"}},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			srv := forgetest.New(t, tc.forge, token)
			r := newRig(t, testkit.File{Repos: []testkit.Repo{commitEntry(tc.provider, srv)}})
			jb := r.accept(t, push(tc.provider))
			r.put(t, job.Record{Job: jb, State: job.Running})
			r.put(t, job.Record{Job: jb, State: job.Running, Deployed: sha2})
			r.put(t, job.Record{Job: jb, State: job.Failed, Deployed: sha2, Error: "command make exited 2",
				Commands: []job.CommandResult{{Command: "make", ExitCode: 2}}})
			r.reports(t, jb.ID)
			srv.Check(t)
			got := map[string][]string{}
			for _, c := range srv.Calls() {
				sha := c.Path[strings.LastIndex(c.Path, "/")+1:]
				if !strings.HasPrefix(c.Path, tc.path) || c.Code != http.StatusCreated {
					t.Errorf("call %s", c)
				}
				got[sha] = append(got[sha], c.State())
				name := c.Body["context"]
				if tc.provider == "gitlab" {
					name = c.Body["name"]
					if c.Body["ref"] != "main" {
						t.Errorf("ref %v", c.Body["ref"])
					}
				}
				if name != "wh-gitd/site/main" || c.Body["target_url"] != "https://deploy.example.com/jobs/"+jb.ID {
					t.Errorf("call %s", c)
				}
			}
			if !slices.Equal(got[sha1], tc.want) || !slices.Equal(got[sha2], tc.deployed) {
				t.Errorf("delivered commit got %v (want %v), deployed commit %v (want %v)", got[sha1], tc.want, got[sha2], tc.deployed)
			}
		})
	}
}

// GitLab refuses a state a commit already has with 400 "Cannot transition
// status": that status is set, and the next one follows.
func TestGitLabCannotTransitionIsDone(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitLab, token)
	srv.Script = func(c forgetest.Call, n int) *forgetest.Answer {
		if c.State() == "running" {
			return &forgetest.Answer{Code: http.StatusBadRequest, Body: `{"message":"Cannot transition status via :run from :running"}`}
		}
		return nil
	}
	r := newRig(t, testkit.File{Repos: []testkit.Repo{commitEntry("gitlab", srv)}})
	jb := r.accept(t, push("gitlab"))
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	reports := r.reports(t, jb.ID)
	srv.Check(t)
	var outcomes []string
	for _, rp := range reports {
		outcomes = append(outcomes, rp.State+" "+rp.Outcome)
	}
	if want := []string{"pending sent", "running sent", "success sent"}; !slices.Equal(outcomes, want) {
		t.Errorf("reports %v, want %v", outcomes, want)
	}
	if got := srv.States(); !slices.Equal(got, []string{"pending", "success"}) {
		t.Errorf("states set %v", got)
	}
}

// Commit statuses are opt in: an entry with a token but without commits:
// true posts none for a push.
func TestCommitStatusesOptIn(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	r := newRig(t, testkit.File{Repos: []testkit.Repo{ghEntry(srv, "")}})
	jb := r.accept(t, push("github"))
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	if reports := r.reports(t, jb.ID); len(reports) != 0 || len(srv.Calls()) != 0 {
		t.Errorf("reports %v, calls %v", reports, srv.Calls())
	}
}
