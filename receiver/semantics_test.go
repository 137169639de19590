package receiver_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// deployEnv is an environment production (fetching main when a deployment's
// ref gives nothing) whose commands record the commit, and an environment
// restricted to some refs.
const deployEnv = `    environments:
      production:
        branch: main
        commands: ['echo "deploy $WH_SHA" >> "$REC"']
        env: {REC: "%[1]s"}
      release:
        branch: main
        refs: [main, "v*", "release/*"]
        commands: ['echo "release $WH_SHA" >> "$REC"']
        env: {REC: "%[1]s"}
`

func githubDeployment(t testing.TB, env, ref, sha string) []byte {
	return testkit.Payload(t, "", "github/deployment.json", map[string]any{"deployment.sha": sha, "deployment.ref": ref,
		"deployment.environment": env, "repository.full_name": "acme/site"})
}

// Push A runs; C and then B (older) arrive while it does, and B's job
// replaces C's. B's job deploys the tip C, never B; a late delivery for B
// after C runs nothing (skipped); a deployment naming B deploys B, as it
// asks.
func TestOutOfOrderPushesNeverRollBack(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: 1, branches: gateBranches, extra: deployEnv})
	rec := h.record("gh")
	cA := h.up.Commit(t, "main", map[string]string{"a": "A"}, "A")
	a := h.push("gh", "main", testkit.ZeroSHA, cA)
	testkit.WaitFile(t, rec+".started")
	cB := h.up.Commit(t, "main", map[string]string{"a": "B"}, "B")
	cC := h.up.Commit(t, "main", map[string]string{"a": "C", "c": "only in C"}, "C")

	c := h.push("gh", "main", cB, cC)
	b := h.push("gh", "main", cA, cB)
	if b.Code != http.StatusAccepted || b.Str("supersedes") != c.Str("job") {
		t.Fatalf("late B: %d %s, want 202 superseding C's job %s", b.Code, b.Raw, c.Str("job"))
	}
	testkit.Touch(t, rec+".release")
	if r := h.wait(a.Str("job")); r.State != job.Succeeded || r.Deployed != cA {
		t.Fatalf("job A %s at %s: %s", r.State, r.Deployed, r.Error)
	}
	r := h.wait(b.Str("job"))
	if r.State != job.Succeeded || r.Deployed != cC || r.Job.SHA != cB {
		t.Fatalf("job of B %s: delivered %s, deployed %s (%s); want delivered B %s, deployed the tip C %s",
			r.State, r.Job.SHA, r.Deployed, r.Error, cB, cC)
	}
	if !strings.Contains(r.Note, "in the history") {
		t.Errorf("record's note %q does not say the delivered commit is in the tip's history", r.Note)
	}
	if got, want := testkit.ReadFile(t, rec), cA+"\n"+cC+"\n"; got != want {
		t.Fatalf("commands ran at %q, want A then C and never B %q", got, want)
	}

	late := h.push("gh", "main", cA, cB)
	if late.Code != http.StatusAccepted {
		t.Fatalf("late B again: %d %s", late.Code, late.Raw)
	}
	if r := h.wait(late.Str("job")); r.State != job.Skipped || r.Deployed != cC || !strings.Contains(r.Note, "already deployed") {
		t.Fatalf("late B after C: %s at %s, note %q (%s); want skipped at C", r.State, r.Deployed, r.Note, r.Error)
	}
	if got := testkit.Head(t, h.workCopy("gh")); got != cC {
		t.Fatalf("working copy at %s after a late delivery, want C %s", got, cC)
	}
	if got, want := testkit.ReadFile(t, rec), cA+"\n"+cC+"\n"; got != want {
		t.Fatalf("a skipped job ran its commands: %q", got)
	}

	d := h.send("gh", testkit.Delivery{Event: "deployment", Body: githubDeployment(t, "production", "main", cB)})
	if r := h.wait(d.Str("job")); r.State != job.Succeeded || r.Deployed != cB {
		t.Fatalf("deployment of B: %s at %s: %s", r.State, r.Deployed, r.Error)
	}
	if got := testkit.Head(t, h.workCopy("gh")); got != cB {
		t.Fatalf("a deployment naming B left the working copy at %s", got)
	}
	if testkit.Exists(filepath.Join(h.workCopy("gh"), "c")) {
		t.Error("C's file survived the deployment of B")
	}
}

// A deployment deploys exactly the commit it names, whatever its ref is: a
// branch other than the environment's, a tag, an annotated tag, a full or
// an abbreviated SHA; an environment's refs patterns refuse other refs.
func TestDeploymentRefs(t *testing.T) {
	h := newHarness(t, harnessOpts{extra: deployEnv})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	c2 := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	h.up.Commit(t, "main", map[string]string{"a": "3"}, "three")
	f1 := h.up.Commit(t, "feature", map[string]string{"f": "1"}, "feature")
	h.up.Tag(t, "v1", c1)
	h.up.AnnotatedTag(t, "v2", c2, "release two")

	cases := []struct {
		name, env, ref, sha string
	}{
		{"another branch than the environment's", "production", "feature", f1},
		{"a tag", "production", "v1", c1},
		{"an annotated tag", "release", "v2", c2},
		{"a full tag ref", "production", "refs/tags/v1", c1},
		{"a full SHA", "production", c2, c2},
		{"an abbreviated SHA", "production", c1[:7], c1},
		{"a branch allowed by refs", "release", "main", c2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.send("gh", testkit.Delivery{Event: "deployment", Body: githubDeployment(t, tc.env, tc.ref, tc.sha)})
			if a.Code != http.StatusAccepted {
				t.Fatalf("answer %d %s, want 202", a.Code, a.Raw)
			}
			if r := h.wait(a.Str("job")); r.State != job.Succeeded || r.Deployed != tc.sha {
				t.Fatalf("job %s at %s: %s; want succeeded at %s", r.State, r.Deployed, r.Error, tc.sha)
			}
			if got := testkit.Head(t, h.workCopy("gh")); got != tc.sha {
				t.Fatalf("working copy at %s, want %s", got, tc.sha)
			}
		})
	}
	t.Run("a ref the environment does not allow", func(t *testing.T) {
		before := h.jobCount()
		a := h.send("gh", testkit.Delivery{Event: "deployment", Body: githubDeployment(t, "release", "feature", f1)})
		if a.Code != http.StatusOK || a.Str("status") != "ignored" || !strings.Contains(a.Str("reason"), "may not be deployed") {
			t.Fatalf("answer %d %s, want 200 ignored", a.Code, a.Raw)
		}
		if n := h.jobCount(); n != before {
			t.Errorf("%d jobs after an ignored deployment, want %d", n, before)
		}
	})
}

// A forge's "Redeliver" keeps the delivery id: after a job that failed it
// is a new attempt, after one that succeeded a duplicate.
func TestRedeliverAfterFailure(t *testing.T) {
	h := newHarness(t, harnessOpts{branches: `      main:
        commands: ['test -e "$REC.ok"', 'echo "$WH_SHA" >> "$REC"']
        env: {REC: "%[1]s"}`})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	d := testkit.Delivery{Body: pushBody(t, "gh", "main", testkit.ZeroSHA, c1), ID: "redelivered"}
	first := h.send("gh", d)
	if r := h.wait(first.Str("job")); r.State != job.Failed {
		t.Fatalf("first attempt %s, want failed", r.State)
	}
	testkit.Touch(t, h.record("gh")+".ok")
	retry := h.send("gh", d)
	if retry.Code != http.StatusAccepted || retry.Str("status") != "queued" || retry.Str("retry_of") != first.Str("job") ||
		retry.Str("job") == first.Str("job") {
		t.Fatalf("redelivery after a failure: %d %s, want 202 queued with retry_of %s", retry.Code, retry.Raw, first.Str("job"))
	}
	if r := h.wait(retry.Str("job")); r.State != job.Succeeded || r.Job.RetryOf != first.Str("job") {
		t.Fatalf("second attempt %s (retry_of %q): %s", r.State, r.Job.RetryOf, r.Error)
	}
	again := h.send("gh", d)
	if again.Code != http.StatusOK || again.Str("status") != "duplicate" || again.Str("job") != retry.Str("job") {
		t.Fatalf("redelivery after a success: %d %s, want 200 duplicate of %s", again.Code, again.Raw, retry.Str("job"))
	}
	if got := testkit.ReadFile(t, h.record("gh")); got != c1+"\n" {
		t.Errorf("commands ran %q, want once at %s", got, c1)
	}
}

// Two branches with their own paths are two working copies: their jobs run
// side by side (each command waits for the other to start, so run one
// after the other they would both time out) and each folder holds its own
// branch.
func TestBranchesWithOwnPathsRunConcurrently(t *testing.T) {
	h := newHarness(t, harnessOpts{workers: 2, branches: `      main:
        path: "%[1]s-main"
        commands: ['touch "$REC.main"; while [ ! -e "$REC.staging" ]; do sleep 0.02; done']
        env: {REC: "%[1]s"}
        timeout: 20s
      staging:
        path: "%[1]s-staging"
        commands: ['touch "$REC.staging"; while [ ! -e "$REC.main" ]; do sleep 0.02; done']
        env: {REC: "%[1]s"}
        timeout: 20s`})
	m := h.up.Commit(t, "main", map[string]string{"which": "main"}, "main")
	s := h.up.Commit(t, "staging", map[string]string{"which": "staging"}, "staging")
	am := h.push("gh", "main", testkit.ZeroSHA, m)
	as := h.push("gh", "staging", testkit.ZeroSHA, s)
	for _, a := range []testkit.Answer{am, as} {
		if r := h.wait(a.Str("job")); r.State != job.Succeeded {
			t.Fatalf("job %s %s: %s", r.Job.Branch, r.State, r.Error)
		}
	}
	for branch, sha := range map[string]string{"main": m, "staging": s} {
		dir := h.record("gh") + "-" + branch
		if got := testkit.Head(t, dir); got != sha {
			t.Errorf("%s's working copy at %s, want %s", branch, got, sha)
		}
		if got := testkit.ReadFile(t, filepath.Join(dir, "which")); got != branch {
			t.Errorf("%s's working copy holds %q", branch, got)
		}
	}
}

// A sync that fails (the remote is away) leaves nothing to repair: the
// next job fetches as usual, a file the new commit deletes is gone, the
// user's untracked file stays, and the history is not fetched again.
func TestFailedSyncLeavesWorkingCopyClean(t *testing.T) {
	for _, depth := range []string{"1", "0"} {
		t.Run("depth "+depth, func(t *testing.T) {
			h := newHarness(t, harnessOpts{extra: "    depth: " + depth + "\n"})
			c1 := h.up.Commit(t, "main", map[string]string{"keep.txt": "k", "gone.txt": "g"}, "adds gone.txt")
			deploy := func(sha string, want job.State) job.Record {
				t.Helper()
				a := h.push("gh", "main", testkit.ZeroSHA, sha)
				r := h.wait(a.Str("job"))
				if r.State != want {
					t.Fatalf("job at %s: %s (%s), want %s", sha, r.State, r.Error, want)
				}
				return r
			}
			deploy(c1, job.Succeeded)
			wc := h.workCopy("gh")
			testkit.WriteFile(t, filepath.Join(wc, ".env"), "SECRET=1")
			away := h.up.Path() + ".away"
			if err := os.Rename(h.up.Path(), away); err != nil {
				t.Fatal(err)
			}
			deploy(c1, job.Failed)
			if err := os.Rename(away, h.up.Path()); err != nil {
				t.Fatal(err)
			}
			c2 := h.up.Commit(t, "main", map[string]string{"gone.txt": gitsynctest.Deleted}, "removes gone.txt")
			r := deploy(c2, job.Succeeded)
			if r.Sync.Cloned || r.Sync.Previous != c1 {
				t.Errorf("sync after a failed one: cloned %v, previous %q; want an ordinary fetch from %s", r.Sync.Cloned, r.Sync.Previous, c1)
			}
			if testkit.Exists(filepath.Join(wc, "gone.txt")) {
				t.Errorf("gone.txt, deleted by %s, is still in the working copy", c2)
			}
			if got := testkit.ReadFile(t, filepath.Join(wc, ".env")); got != "SECRET=1" {
				t.Errorf(".env = %q", got)
			}
			if log := testkit.ReadFile(t, r.Log); strings.Contains(log, "interrupted") || strings.Contains(log, "clone") {
				t.Errorf("the job after a failed sync repaired or cloned again:\n%s", log)
			}
		})
	}
}
