package receiver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
)

// With max_delivery_age, a GitHub push or deployment is refused 403, with
// no job, when the signed time in its body (repository.pushed_at,
// deployment.created_at) is older than that: a captured delivery sent again
// under a new delivery id. A fresh one runs; an entry without the setting
// takes the old one as before.
func TestMaxDeliveryAge(t *testing.T) {
	h := newHarness(t, harnessOpts{extra: "    environments:\n      production:" + recordCommands + "\n"})
	const age = 10 * time.Minute
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	push := func(pushedAt any) []byte {
		return testkit.Payload(t, "", "github/push-branch.json", map[string]any{"ref": "refs/heads/main", "before": testkit.ZeroSHA,
			"after": c1, "repository.full_name": "acme/site", "repository.pushed_at": pushedAt})
	}
	deployment := func(createdAt any) []byte {
		return testkit.Payload(t, "", "github/deployment.json", map[string]any{"deployment.sha": c1, "deployment.ref": "main",
			"deployment.environment": "production", "repository.full_name": "acme/site",
			"deployment.created_at": createdAt})
	}
	now := time.Now()
	old := now.Add(-age - time.Minute)
	captured := push(old.Unix())

	// Off (the default): the old delivery runs.
	if a := h.send("gh", testkit.Delivery{Body: captured}); a.Code != http.StatusAccepted {
		t.Fatalf("without max_delivery_age: %d %s, want 202", a.Code, a.Raw)
	} else if r := h.wait(a.Str("job")); r.State != "succeeded" {
		t.Fatalf("job %s: %s", r.State, r.Error)
	}

	set := *h.set
	set.Repos = map[string]*settings.Repo{}
	for name, r := range h.set.Repos {
		c := *r
		set.Repos[name] = &c
	}
	set.Repos["gh"].MaxDeliveryAge = age
	h.handler.SetSettings(&set)

	cases := []struct {
		name string
		body []byte
		want int
		says string
	}{
		{"push a minute old", push(now.Add(-time.Minute).Unix()), http.StatusAccepted, ""},
		{"push time as RFC 3339", push(now.UTC().Format(time.RFC3339)), http.StatusAccepted, ""},
		{"captured push sent again", captured, http.StatusForbidden, "older than max_delivery_age (10m0s)"},
		{"push a year old", push(now.AddDate(-1, 0, 0).Unix()), http.StatusForbidden, "older than max_delivery_age"},
		{"push without pushed_at", push(nil), http.StatusForbidden, "carries no time of the push"},
		{"push with a garbled pushed_at", push("yesterday"), http.StatusForbidden, "carries no time of the push"},
		{"deployment just created", deployment(now.UTC().Format(time.RFC3339)), http.StatusAccepted, ""},
		{"deployment created long ago", deployment(old.UTC().Format(time.RFC3339)), http.StatusForbidden,
			"older than max_delivery_age"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			event := "push"
			if strings.HasPrefix(tc.name, "deployment") {
				event = "deployment"
			}
			before := h.jobCount()
			a := h.send("gh", testkit.Delivery{Event: event, Body: tc.body})
			if a.Code != tc.want || !strings.Contains(a.Str("error"), tc.says) {
				t.Fatalf("answer %d %s, want %d saying %q", a.Code, a.Raw, tc.want, tc.says)
			}
			if tc.want == http.StatusAccepted {
				// The same commit again: a push finds it deployed (skipped).
				if r := h.wait(a.Str("job")); r.State != "succeeded" && r.State != "skipped" {
					t.Errorf("job %s: %s", r.State, r.Error)
				}
			} else if n := h.jobCount(); n != before {
				t.Errorf("%d jobs recorded after a refused delivery, want %d", n, before)
			}
		})
	}
	// Pushes to an unconfigured branch are still answered "ignored" first:
	// the age matters only to a delivery that would run something.
	ignored := testkit.Payload(t, "", "github/push-branch.json", map[string]any{"ref": "refs/heads/other", "after": c1,
		"repository.full_name": "acme/site", "repository.pushed_at": old.Unix()})
	if a := h.send("gh", testkit.Delivery{Body: ignored}); a.Code != http.StatusOK || a.Str("status") != "ignored" {
		t.Errorf("old push to an unconfigured branch: %d %s, want 200 ignored", a.Code, a.Raw)
	}
}
