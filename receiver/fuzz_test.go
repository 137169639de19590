package receiver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/settings"
)

// fuzzSettings configures one endpoint "x" of provider with branches main
// and feature/x and the environment production.
func fuzzSettings(f *testing.F, provider, repository string) *settings.Settings {
	f.Helper()
	return testkit.File{Repos: []testkit.Repo{{Name: "x", Provider: provider, Repository: repository,
		Extra: "shared_path: true\ndeploy_on: [success, running]", Branches: []testkit.Target{{}, {Name: "feature/x"}},
		Environments: []testkit.Target{{Name: "production", Branch: "main"}}}}}.Load(f, "")
}

// fuzzSeeds adds every testdata body of dirs with the event its name says.
func fuzzSeeds(f *testing.F, events map[string]string, dirs ...string) {
	f.Helper()
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, file := range files {
			body := []byte(testkit.ReadFile(f, file))
			name := strings.TrimSuffix(filepath.Base(file), ".json")
			for prefix, event := range events {
				if strings.HasPrefix(name, prefix) {
					f.Add(body, event, "d-"+name, uint8(0))
				}
			}
		}
	}
	f.Add([]byte(`{"ref":"refs/heads/main","after":"`+strings.Repeat("a", 40)+`"}`), "push", "", uint8(0))
	f.Add([]byte(`{}`), "push", "x", uint8(1))
	f.Add([]byte(`[`), "push", "x", uint8(2))
}

var (
	// fuzzHeaders are the event and delivery id headers of each provider.
	fuzzHeaders = map[string][2]string{settings.GitHub: {"X-GitHub-Event", "X-GitHub-Delivery"},
		settings.GitLab: {"X-Gitlab-Event", "X-Gitlab-Event-UUID"}, settings.Gogs: {"X-Gogs-Event", "X-Gogs-Delivery"}}
	fullSHA = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	// answerCodes are the statuses DESIGN.md's table allows for a delivery.
	answerCodes = []int{http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusUnauthorized,
		http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}
)

// fuzzDelivery sends body as a delivery of event to the endpoint of set,
// signed correctly unless mode says otherwise, and checks the invariants:
// no panic, an answer from DESIGN.md's table in JSON, a job only for a
// correctly signed delivery of a configured branch or environment, and a
// job that names the exact commit and the configured target.
func fuzzDelivery(t *testing.T, set *settings.Settings, body []byte, event, id string, mode uint8) {
	jobs := &fakeJobs{}
	h := receiver.New(receiver.Options{Settings: set, Jobs: jobs, Logger: zerolog.Nop()})
	repo := set.Repos["x"]
	req := httptest.NewRequest(http.MethodPost, "/hooks/x", bytes.NewReader(body))
	signed := mode%4 == 0
	secret := repo.Secret
	if !signed {
		secret = "not-" + secret
	}
	// The event and the id go as fuzzed, even empty.
	names := fuzzHeaders[repo.Provider]
	req.Header = testkit.Delivery{Provider: repo.Provider, Secret: secret, Body: body,
		Header: http.Header{names[0]: {event}, names[1]: {id}}}.Headers()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var ans map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans["status"] == nil {
		t.Fatalf("answer %d is not JSON with a status: %q", rec.Code, rec.Body)
	}
	if !slices.Contains(answerCodes, rec.Code) {
		t.Fatalf("answer %d is not in the table: %s", rec.Code, rec.Body)
	}
	if !signed && (rec.Code != http.StatusUnauthorized || jobs.count() != 0) {
		t.Fatalf("a wrongly signed delivery got %d and %d jobs", rec.Code, jobs.count())
	}
	if (rec.Code == http.StatusAccepted) != (jobs.count() == 1) || jobs.count() > 1 {
		t.Fatalf("answer %d with %d jobs", rec.Code, jobs.count())
	}
	if jobs.count() == 0 {
		return
	}
	job := jobs.jobs[0]
	_, branch := repo.Branches[job.Branch]
	_, env := repo.Environments[job.Environment]
	switch {
	case job.Repo != "x" || job.Provider != repo.Provider || !bytes.Equal(job.Payload, body):
		t.Fatalf("job %+v is not for this endpoint and body", job)
	case !fullSHA.MatchString(job.SHA):
		t.Fatalf("job names no full commit: %q", job.SHA)
	case job.Environment == "" && job.Ref != "refs/heads/"+job.Branch:
		t.Fatalf("push job ref %q does not name its branch %q", job.Ref, job.Branch)
	case job.Environment != "" && strings.HasPrefix(job.Ref, "-"):
		t.Fatalf("deployment job ref %q could pass for an option", job.Ref)
	case job.Environment == "" && (!branch || job.Event != "push"):
		t.Fatalf("push job for branch %q, which is not configured", job.Branch)
	case job.Environment != "" && (!env || job.Event != "deployment"):
		t.Fatalf("deployment job for environment %q, which is not configured", job.Environment)
	case job.Delivery != id:
		t.Fatalf("job delivery %q, want %q", job.Delivery, id)
	}
}

func FuzzGitHubDelivery(f *testing.F) {
	set := fuzzSettings(f, settings.GitHub, "octo-org/octo-repo")
	fuzzSeeds(f, map[string]string{"push": "push", "deployment_status": "deployment_status",
		"deployment.": "deployment", "ping": "ping"}, "github")
	matchingSeeds(f, settings.GitHub, "octo-org/octo-repo")
	f.Fuzz(func(t *testing.T, body []byte, event, id string, mode uint8) {
		fuzzDelivery(t, set, body, event, id, mode)
	})
}

func FuzzGitLabDelivery(f *testing.F) {
	set := fuzzSettings(f, settings.GitLab, "mike/diaspora")
	fuzzSeeds(f, map[string]string{"push": "Push Hook", "tag": "Tag Push Hook", "deployment": "Deployment Hook",
		"system": "System Hook"}, "gitlab")
	matchingSeeds(f, settings.GitLab, "mike/diaspora")
	f.Fuzz(func(t *testing.T, body []byte, event, id string, mode uint8) {
		fuzzDelivery(t, set, body, event, id, mode)
	})
}

func FuzzGogsDelivery(f *testing.F) {
	set := fuzzSettings(f, settings.Gogs, "tester/demo")
	fuzzSeeds(f, map[string]string{"push": "push", "create": "create", "delete": "delete"}, "gogs", "gitea")
	matchingSeeds(f, settings.Gogs, "tester/demo")
	f.Fuzz(func(t *testing.T, body []byte, event, id string, mode uint8) {
		fuzzDelivery(t, set, body, event, id, mode)
	})
}

// matchingSeeds adds deliveries that reach a job: pushes to the configured
// branches and deployments to the configured environment, of repository.
func matchingSeeds(f *testing.F, provider, repository string) {
	f.Helper()
	sha := strings.Repeat("3c", 20)
	event := map[string]string{settings.GitHub: "push", settings.GitLab: "Push Hook", settings.Gogs: "push"}[provider]
	for _, ref := range []string{"refs/heads/main", "refs/heads/feature/x", "refs/heads/other", "refs/tags/v1"} {
		f.Add(testkit.PushBody(f, "", provider, testkit.Push{Ref: ref, After: sha, Repository: repository}), event, "seed", uint8(0))
	}
	switch provider {
	case settings.GitHub:
		f.Add(testkit.Payload(f, "", "github/deployment.json", map[string]any{"deployment.sha": sha, "deployment.ref": "main",
			"deployment.environment": "production", "repository.full_name": repository}), "deployment", "seed", uint8(0))
	case settings.GitLab:
		f.Add(testkit.Payload(f, "", "gitlab/deployment-event.json", map[string]any{"status": "success", "environment": "production",
			"short_sha": sha[:8], "commit_url": "https://gitlab.example/c/" + sha,
			"project.path_with_namespace": repository}), "Deployment Hook", "seed", uint8(0))
	}
}
