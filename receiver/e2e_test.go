package receiver_test

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Per provider and per kind of remote: a signed push brings the working copy
// to the pushed commit and runs the branch's commands in order with the
// right WH_* values and the raw delivery as $WH_PAYLOAD.
func TestPushDeploys(t *testing.T) {
	for _, remote := range []string{"path", "http"} {
		for _, name := range forges {
			t.Run(endpoints[name].provider+"/"+remote, func(t *testing.T) {
				h := newHarness(t, harnessOpts{remote: remote})
				c1 := h.up.Commit(t, "main", map[string]string{"index.html": "v1"}, "one")
				c2 := h.up.Commit(t, "main", map[string]string{"index.html": "v2"}, "two")
				body := pushBody(t, name, "main", c1, c2)
				a := h.send(name, testkit.Delivery{Body: body, ID: "d-" + name})
				if a.Code != http.StatusAccepted || a.Str("status") != "queued" || a.Str("job") == "" {
					t.Fatalf("answer %d %s, want 202 queued", a.Code, a.Raw)
				}
				res := h.wait(a.Str("job"))
				if res.State != job.Succeeded {
					t.Fatalf("job %s: %s", res.State, res.Error)
				}
				if got := testkit.Head(t, h.workCopy(name)); got != c2 {
					t.Errorf("working copy at %s, want %s", got, c2)
				}
				if got := testkit.ReadFile(t, filepath.Join(h.workCopy(name), "index.html")); got != "v2" {
					t.Errorf("index.html = %q", got)
				}
				want := fmt.Sprintf("%s|push|refs/heads/main|main|%s|%s|d-%s|%s||%s\nsecond\n",
					endpoints[name].provider, c2, c1, name, name, res.Job.ID)
				if got := testkit.ReadFile(t, h.record(name)); got != want {
					t.Errorf("commands recorded\n%q\nwant\n%q", got, want)
				}
				p := filepath.Join(h.set.StateDir, "jobs", res.Job.ID+".payload.json")
				if got := testkit.ReadFile(t, p); got != string(body) {
					t.Errorf("WH_PAYLOAD file differs from the delivery body")
				}
				if len(res.Commands) != 2 || res.Commands[0].ExitCode != 0 {
					t.Errorf("command results %+v", res.Commands)
				}
			})
		}
	}
}

// A real Gogs delivery, byte for byte with its captured headers and
// signature, is verified and queued.
func TestGogsCapturedDelivery(t *testing.T) {
	h := newHarness(t, harnessOpts{branches: "      master:" + recordCommands})
	for _, tc := range []struct {
		file string
		code int
		stat string
	}{
		{"push", http.StatusAccepted, "queued"},
		{"push", http.StatusOK, "duplicate"}, // the same delivery again
		{"push-force", http.StatusAccepted, "queued"},
		{"push-new-branch", http.StatusOK, "ignored"}, // feature/x is not configured
		{"create-branch", http.StatusOK, "ignored"},
		{"create-tag", http.StatusOK, "ignored"},
		{"delete-branch", http.StatusOK, "ignored"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := []byte(testkit.ReadFile(t, filepath.Join("testdata/gogs", tc.file+".json")))
			header := http.Header{}
			for _, line := range strings.Split(testkit.ReadFile(t, filepath.Join("testdata/gogs", tc.file+".headers")), "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok && k != "Host" && k != "Content-Length" && k != "X-Gogs-Signature" {
					header.Set(k, v)
				}
			}
			// Captured with the secret gogs-secret, shorter than settings
			// allow now (TestCapturedGogsSignature checks that one): signed
			// again with the endpoint's.
			a := h.send("gg", testkit.Delivery{Body: body, Header: header})
			if a.Code != tc.code || a.Str("status") != tc.stat {
				t.Errorf("answer %d %s, want %d %s", a.Code, a.Raw, tc.code, tc.stat)
			}
		})
	}
}

// Each kind of GitHub delivery gets the right answer and, where it deploys,
// deploys exactly what it names.
func TestGitHubEvents(t *testing.T) {
	h := newHarness(t, harnessOpts{
		branches: "      main:" + recordCommands + "\n      staging:" + recordCommands,
		extra:    "    environments:\n      production:" + recordCommands + "\n",
	})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	c2 := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")

	deploy := func(t *testing.T, body []byte, event, want string) job.Record {
		t.Helper()
		a := h.send("gh", testkit.Delivery{Event: event, Body: body})
		if a.Code != http.StatusAccepted {
			t.Fatalf("answer %d %s, want 202", a.Code, a.Raw)
		}
		res := h.wait(a.Str("job"))
		if res.State != job.Succeeded {
			t.Fatalf("job %s: %s", res.State, res.Error)
		}
		if got := testkit.Head(t, h.workCopy("gh")); got != want {
			t.Fatalf("working copy at %s, want %s", got, want)
		}
		return res
	}
	ignored := func(t *testing.T, body []byte, event, reason string) {
		t.Helper()
		a := h.send("gh", testkit.Delivery{Event: event, Body: body})
		if a.Code != http.StatusOK || a.Str("status") != "ignored" || !strings.Contains(a.Str("reason"), reason) {
			t.Fatalf("answer %d %s, want 200 ignored (%s)", a.Code, a.Raw, reason)
		}
	}

	t.Run("push", func(t *testing.T) { deploy(t, pushBody(t, "gh", "main", c1, c2), "push", c2) })
	t.Run("force-push to an unrelated older commit", func(t *testing.T) {
		old := h.up.Orphan(t, map[string]string{"b": "orphan"}, "unrelated")
		h.up.ForcePush(t, "main", old)
		deploy(t, pushBody(t, "gh", "main", c2, old), "push", old)
		if testkit.Exists(filepath.Join(h.workCopy("gh"), "a")) {
			t.Error("file of the old history survived the force-push")
		}
	})
	t.Run("new branch", func(t *testing.T) {
		s1 := h.up.Commit(t, "staging", map[string]string{"s": "1"}, "staging")
		body := testkit.Payload(t, "", "github/push-new-branch.json", map[string]any{"ref": "refs/heads/staging",
			"before": testkit.ZeroSHA, "after": s1, "repository.full_name": "acme/site"})
		deploy(t, body, "push", s1)
	})
	t.Run("deployment", func(t *testing.T) {
		h.up.ForcePush(t, "main", c2)
		body := testkit.Payload(t, "", "github/deployment.json", map[string]any{"deployment.sha": c1,
			"deployment.ref": "main", "deployment.environment": "production", "repository.full_name": "acme/site"})
		res := deploy(t, body, "deployment", c1)
		if res.Job.Environment != "production" || res.Job.Branch != "main" || res.Job.DeploymentID != 145988746 {
			t.Errorf("job %+v", res.Job)
		}
		if rec := testkit.ReadFile(t, h.record("gh")); !strings.Contains(rec, "|"+c1+"||") || !strings.Contains(rec, "|production|") {
			t.Errorf("deployment commands did not see WH_SHA and WH_ENVIRONMENT:\n%s", rec)
		}
	})
	t.Run("deleted branch", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/push-branch.json", map[string]any{"ref": "refs/heads/main", "before": c2,
			"after": testkit.ZeroSHA, "deleted": true, "repository.full_name": "acme/site"})
		ignored(t, body, "push", "deletion")
	})
	t.Run("tag", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/push-branch.json", map[string]any{"ref": "refs/tags/v1", "after": c2,
			"repository.full_name": "acme/site"})
		ignored(t, body, "push", "not a branch")
	})
	t.Run("deleted tag", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/push-delete-tag.json", map[string]any{"repository.full_name": "acme/site"})
		ignored(t, body, "push", "deletion")
	})
	t.Run("unconfigured branch", func(t *testing.T) {
		ignored(t, pushBody(t, "gh", "feature", c1, c2), "push", `branch "feature" is not configured`)
	})
	t.Run("unconfigured environment", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/deployment.json", map[string]any{"deployment.sha": c1,
			"deployment.environment": "qa", "repository.full_name": "acme/site"})
		ignored(t, body, "deployment", `environment "qa" is not configured`)
	})
	t.Run("deployment_status", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/deployment_status.json", map[string]any{"repository.full_name": "acme/site"})
		ignored(t, body, "deployment_status", "not handled")
	})
	t.Run("ping", func(t *testing.T) {
		body := testkit.Payload(t, "", "github/ping.json", map[string]any{"repository.full_name": "acme/site"})
		ignored(t, body, "ping", "ping")
	})
}

// A GitLab deployment deploys the full commit of its commit_url on the
// environment's branch, and only for the statuses in deploy_on.
func TestGitLabDeployment(t *testing.T) {
	h := newHarness(t, harnessOpts{extra: "    environments:\n      staging:\n        branch: main" +
		strings.ReplaceAll(recordCommands, "%[1]s", "%[1]s-env") + "\n"})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	c2 := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	body := func(status, sha string) []byte {
		return testkit.Payload(t, "", "gitlab/deployment-event.json", map[string]any{"status": status, "environment": "staging",
			"short_sha": sha[:8], "commit_url": "https://gitlab.example/group/site/-/commit/" + sha,
			"project.path_with_namespace": "group/site"})
	}
	a := h.send("gl", testkit.Delivery{Event: "Deployment Hook", Body: body("running", c2)})
	if a.Code != http.StatusOK || a.Str("status") != "ignored" {
		t.Fatalf("running deployment: answer %d %s, want 200 ignored", a.Code, a.Raw)
	}
	a = h.send("gl", testkit.Delivery{Event: "Deployment Hook", Body: body("success", c1)})
	if a.Code != http.StatusAccepted {
		t.Fatalf("answer %d %s, want 202", a.Code, a.Raw)
	}
	if res := h.wait(a.Str("job")); res.State != job.Succeeded {
		t.Fatalf("job %s: %s", res.State, res.Error)
	}
	if got := testkit.Head(t, h.workCopy("gl")); got != c1 {
		t.Errorf("working copy at %s, want the deployed %s", got, c1)
	}
	bad := testkit.Payload(t, "", "gitlab/deployment-event.json", map[string]any{"environment": "staging",
		"commit_url": "https://x/-/commit/nothex", "project.path_with_namespace": "group/site"})
	if a := h.send("gl", testkit.Delivery{Event: "Deployment Hook", Body: bad}); a.Code != http.StatusBadRequest {
		t.Errorf("deployment without a full commit: answer %d %s, want 400", a.Code, a.Raw)
	}
	// Newer GitLab versions name the deployment's ref, which may be a tag
	// on no branch at all: the commit is deployed from it.
	o := h.up.Orphan(t, map[string]string{"released": "1"}, "release on no branch")
	h.up.Tag(t, "v1", o)
	tagged := testkit.Payload(t, "", "gitlab/deployment-event.json", map[string]any{"status": "success", "environment": "staging",
		"short_sha": o[:8], "commit_url": "https://gitlab.example/group/site/-/commit/" + o, "ref": "v1",
		"project.path_with_namespace": "group/site"})
	a = h.send("gl", testkit.Delivery{Event: "Deployment Hook", Body: tagged})
	if res := h.wait(a.Str("job")); res.State != job.Succeeded || res.Deployed != o {
		t.Fatalf("deployment of tag v1: %s at %s: %s", res.State, res.Deployed, res.Error)
	}
}

// Untracked and ignored files survive ten deployments, a force-push among them.
func TestUntrackedFilesSurviveDeployments(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	prev := h.up.Commit(t, "main", map[string]string{".gitignore": "node_modules/\n.env\n", "app.js": "0"}, "init")
	deliver := func(before, after string) {
		t.Helper()
		a := h.push("gh", "main", before, after)
		if a.Code != http.StatusAccepted {
			t.Fatalf("answer %d %s", a.Code, a.Raw)
		}
		if res := h.wait(a.Str("job")); res.State != job.Succeeded {
			t.Fatalf("job %s: %s", res.State, res.Error)
		}
	}
	deliver(testkit.ZeroSHA, prev)
	wc := h.workCopy("gh")
	keep := map[string]string{".env": "DB_PASSWORD=hunter2\n", "node_modules/lib/index.js": "module.exports=1\n",
		"uploads/cat.jpg": "\xff\xd8\xff binary"}
	for p, c := range keep {
		testkit.WriteFile(t, filepath.Join(wc, p), c)
	}
	var forced string
	for i := 1; i <= 10; i++ {
		next := h.up.Commit(t, "main", map[string]string{"app.js": fmt.Sprint(i)}, "step")
		if i == 6 {
			forced = h.up.Orphan(t, map[string]string{".gitignore": "node_modules/\n.env\n", "app.js": "forced"}, "rewrite")
			h.up.ForcePush(t, "main", forced)
			next = forced
		}
		deliver(prev, next)
		if got := testkit.Head(t, wc); got != next {
			t.Fatalf("sync %d: working copy at %s, want %s", i, got, next)
		}
		prev = next
	}
	for p, c := range keep {
		if got := testkit.ReadFile(t, filepath.Join(wc, p)); got != c {
			t.Errorf("%s = %q after ten syncs, want %q", p, got, c)
		}
	}
	if forced == "" {
		t.Fatal("no force-push happened")
	}
	_ = gitsynctest.Deleted
}

// Gitea and Forgejo speak the Gogs dialect under their own header
// prefixes: a push signed as each signs it deploys, a wrong signature is
// refused.
func TestGiteaAndForgejo(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	for _, name := range []string{"gt", "fj"} {
		t.Run(endpoints[name].provider, func(t *testing.T) {
			body := pushBody(t, name, "main", testkit.ZeroSHA, c1)
			if a := h.send(name, testkit.Delivery{Body: body, Secret: "wrong-secret-0123456789"}); a.Code != http.StatusUnauthorized {
				t.Fatalf("wrong signature: %d %s, want 401", a.Code, a.Raw)
			}
			a := h.send(name, testkit.Delivery{Body: body})
			if a.Code != http.StatusAccepted {
				t.Fatalf("answer %d %s, want 202", a.Code, a.Raw)
			}
			if r := h.wait(a.Str("job")); r.State != job.Succeeded || r.Deployed != c1 || r.Job.Provider != endpoints[name].provider {
				t.Fatalf("job %s at %s (provider %s): %s", r.State, r.Deployed, r.Job.Provider, r.Error)
			}
		})
	}
}

// BenchmarkIntake measures signed deliveries through the real handler on a
// real listener, with the real runner and its store: accepted pushes to one
// configured branch (each is written and synced before its 202), and pushes
// to an unconfigured branch (verify, decode, answer).
func BenchmarkIntake(b *testing.B) {
	for _, tc := range []struct{ name, branch string }{{"accepted", "main"}, {"ignored", "dev"}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, harnessOpts{quiet: true, queue: 1000, branches: "      main: {commands: ['true']}"})
			sha := h.up.Commit(b, "main", map[string]string{"f": "1"}, "one")
			body := pushBody(b, "gh", tc.branch, testkit.ZeroSHA, sha)
			header := testkit.Delivery{Provider: settings.GitHub, Secret: endpoints["gh"].secret, Body: body}.Headers()
			var n atomic.Int64
			b.SetBytes(int64(len(body)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, h.url+"/hooks/gh", bytes.NewReader(body))
					req.Header = header.Clone()
					req.Header.Set("X-GitHub-Delivery", fmt.Sprint("bench-", n.Add(1)))
					a, err := testkit.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					if a.Code/100 != 2 {
						b.Fatalf("status %d", a.Code)
					}
				}
			})
		})
	}
}
