package receiver_test

import (
	"net/http"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// A provider: git entry has no webhook endpoint; its hook submits pushes
// through the trigger route, which records them as pushes of the commit
// pushed and deploys the branch's tip.
func TestGitEntry(t *testing.T) {
	h := newHarness(t, harnessOpts{repos: []testkit.Repo{{Name: "pushed", Provider: settings.Git}}})
	c, _ := serveControl(t, h)
	first := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	tip := h.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	d := testkit.Delivery{Provider: settings.GitHub, URL: h.url + "/hooks/pushed", Body: []byte("{}")}
	if a := h.do(d.Request(t)); a.Code != http.StatusNotFound {
		t.Errorf("POST /hooks/pushed: %d %s, want 404", a.Code, a.Raw)
	}
	var a job.Answer
	body := `{"branch":"main","sha":"` + first + `","by":"alice","push":true}`
	if code := controlCall(t, c, http.MethodPost, "/api/repos/pushed/trigger", body, &a); code != http.StatusAccepted {
		t.Fatalf("push: %d %+v", code, a)
	}
	rec := h.wait(a.Job)
	if rec.State != job.Succeeded || rec.Event != job.EventPush || rec.Provider != settings.Git ||
		rec.SHA != first || rec.Deployed != tip || rec.Pusher != "alice" {
		t.Errorf("pushed job: %s %s %s sha %s deployed %s by %q, want a push of %s deploying the tip %s",
			rec.State, rec.Event, rec.Provider, rec.SHA, rec.Deployed, rec.Pusher, first, tip)
	}
	for _, bad := range []string{`{"branch":"main","push":true}`, `{"sha":"` + tip + `","push":true}`} {
		if code := controlCall(t, c, http.MethodPost, "/api/repos/pushed/trigger", bad, &a); code != http.StatusBadRequest {
			t.Errorf("%s: %d %+v, want 400", bad, code, a)
		}
	}
}
