package report_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/forgetest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// senderCase is an answer the queued status gets first, and what the
// sender must make of it.
type senderCase struct {
	name string
	top  string
	// first answers the first `times` attempts of the queued status.
	first    forgetest.Answer
	times    int
	outcome  string
	attempts int
	code     int
	// wait is the least time between the first and the second attempt.
	wait  time.Duration
	class string
}

// What the sender does with each kind of answer: wait as told and send
// again, back off on 5xx, stop at once on other 4xx, give up in time.
func TestSenderAnswers(t *testing.T) {
	cases := []senderCase{
		{name: "403 with Retry-After: 2, then 201", times: 1, outcome: job.ReportSent, attempts: 2, code: 201, wait: 2 * time.Second,
			first: forgetest.Answer{Code: 403, Header: map[string]string{"Retry-After": "2"},
				Body: `{"message":"You have exceeded a secondary rate limit"}`}, class: "rate_limited"},
		{name: "429 with x-ratelimit-remaining 0, then 201", times: 1, outcome: job.ReportSent, attempts: 2, code: 201, wait: time.Second,
			first: forgetest.Answer{Code: 429, Header: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "in 2s"}},
			class: "rate_limited"},
		{name: "5xx for a while, then 201", times: 4, outcome: job.ReportSent, attempts: 5, code: 201, wait: 20 * time.Millisecond,
			first: forgetest.Answer{Code: 502, Body: "bad gateway"}, class: "5xx"},
		{name: "422 is not sent again", times: 1, outcome: job.ReportFailed, attempts: 1, code: 422,
			first: forgetest.Answer{Code: 422, Body: `{"message":"Validation Failed"}`}, class: "4xx"},
		{name: "5xx past give_up", top: "report: {backoff: 20ms, give_up: 300ms}", times: 1000, outcome: job.ReportGaveUp, code: 503,
			first: forgetest.Answer{Code: 503}, class: "5xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

// script answers the first tc.times queued statuses as tc says, noting
// when each came.
func (tc senderCase) script(times *[]time.Time) func(forgetest.Call, int) *forgetest.Answer {
	return func(c forgetest.Call, n int) *forgetest.Answer {
		if c.State() != "queued" {
			return nil
		}
		*times = append(*times, time.Now())
		if len(*times) > tc.times {
			return nil
		}
		a := tc.first
		if a.Header["X-Ratelimit-Reset"] != "" { // the next whole second at least 1s ahead
			a.Header = map[string]string{"X-Ratelimit-Remaining": "0",
				"X-Ratelimit-Reset": strconv.FormatInt(time.Now().Unix()+2, 10)}
		}
		return &a
	}
}

func (tc senderCase) run(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	var times []time.Time
	srv.Script = tc.script(&times)
	r := newRig(t, testkit.File{Top: tc.top, Repos: []testkit.Repo{ghEntry(srv, "")}})
	jb := r.accept(t, deployment(9))
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	reports := r.reports(t, jb.ID)
	srv.Check(t)
	q := reports[0]
	if q.State != "queued" || q.Outcome != tc.outcome || (tc.attempts > 0 && q.Attempts != tc.attempts) || q.Code != tc.code {
		t.Errorf("queued report %+v, want %s after %d attempts, code %d", q, tc.outcome, tc.attempts, tc.code)
	}
	if tc.wait > 0 && len(times) > 1 && times[1].Sub(times[0]) < tc.wait-50*time.Millisecond {
		t.Errorf("second attempt %s after the first, want at least %s", times[1].Sub(times[0]), tc.wait)
	}
	if r.posts.get("github "+tc.class) == 0 {
		t.Errorf("OnPost never told of class %s: %v", tc.class, r.posts.m)
	}
	// The statuses after it follow in order, whatever became of it.
	if got := srv.States(); got[len(got)-1] != "success" || slices.Index(got, "in_progress") > slices.Index(got, "success") {
		t.Errorf("states %v", got)
	}
}

// A state is never overtaken by a later one: while queued is retried,
// in_progress and success wait behind it.
func TestSenderKeepsOrder(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	var fails atomic.Int32
	srv.Script = func(c forgetest.Call, n int) *forgetest.Answer {
		if c.State() == "queued" && fails.Add(1) <= 3 {
			return &forgetest.Answer{Code: 500}
		}
		return nil
	}
	r := newRig(t, testkit.File{Repos: []testkit.Repo{ghEntry(srv, "")}})
	jb := r.accept(t, deployment(5))
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	r.reports(t, jb.ID)
	var got []string
	for _, c := range srv.Calls() {
		got = append(got, fmt.Sprint(c.State(), " ", c.Code))
	}
	want := []string{"queued 500", "queued 500", "queued 500", "queued 201", "in_progress 201", "success 201"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// A GitHub App's installation token is minted with a JWT the contract
// server checks with the App's public key, used for every status until
// GitHub refuses it (401: expired), then minted again.
func TestAppToken(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, "")
	app := srv.NewApp(t, 1234, 5678)
	entry := testkit.Repo{Name: "site", Extra: fmt.Sprintf("status: {api_url: %q, app_id: 1234, installation_id: 5678, private_key_file: %q}",
		srv.APIURL, app.KeyFile), Environments: []testkit.Target{{Name: "production"}}}
	r := newRig(t, testkit.File{Repos: []testkit.Repo{entry}})
	jb := r.accept(t, deployment(1))
	r.run(t, jb, job.Record{State: job.Succeeded, Deployed: sha1})
	r.reports(t, jb.ID)
	if app.Minted() != 1 {
		t.Errorf("%d tokens minted for three statuses, want 1", app.Minted())
	}
	app.Expire()
	jb2 := r.accept(t, deployment(2))
	r.run(t, jb2, job.Record{State: job.Succeeded, Deployed: sha1})
	reports := r.reports(t, jb2.ID)
	srv.Check(t)
	if app.Minted() != 2 {
		t.Errorf("%d tokens minted, want 2 (one after the expiry)", app.Minted())
	}
	for _, rp := range reports {
		if rp.Outcome != job.ReportSent || rp.Attempts != 1 {
			t.Errorf("report %+v: the 401 should be answered by a new token within the attempt", rp)
		}
	}
	var codes []int
	for _, c := range srv.Calls() {
		codes = append(codes, c.Code)
	}
	if want := []int{201, 201, 201, 201, 401, 201, 201, 201, 201}; !slices.Equal(codes, want) {
		t.Errorf("answers %v, want %v (mint, 3 statuses, 401, mint, 3 statuses)", codes, want)
	}
}

// No token, App key or notify URL appears in the sender's log or in the
// job's record, whatever the answers.
func TestTokensNeverLogged(t *testing.T) {
	srv := forgetest.New(t, forgetest.GitHub, token)
	srv.Script = func(c forgetest.Call, n int) *forgetest.Answer {
		return &forgetest.Answer{Code: 401, Body: `{"message":"Bad credentials"}`}
	}
	hook := forgetest.NewHook(t, "")
	hook.Hang = true
	secretURL := hook.URL + "/T000/B000/secret-path-xyz"
	entry := ghEntry(srv, "")
	entry.Extra += fmt.Sprintf("\nnotify: [{type: slack, url: %q}]", secretURL)
	r := newRig(t, testkit.File{Top: "report: {backoff: 1h, timeout: 200ms}", Repos: []testkit.Repo{entry}})
	jb := r.accept(t, deployment(3))
	r.run(t, jb, job.Record{State: job.Failed, Error: "sync failed"})
	testkit.Eventually(t, "the notification to be tried", testkit.Patience, func() bool {
		rec, _ := r.store.Get(jb.ID)
		return len(rec.Reports) == 4 && rec.Reports[3].Attempts == 1
	})
	rec, _ := r.store.Get(jb.ID)
	recJSON := fmt.Sprintf("%+v", rec.Reports)
	for _, secret := range []string{token, "secret-path-xyz"} {
		if strings.Contains(r.log.String(), secret) || strings.Contains(recJSON, secret) {
			t.Errorf("%q shown:\nlog: %s\nreports: %s", secret, r.log.String(), recJSON)
		}
	}
	if rec.Reports[0].Code != http.StatusUnauthorized || rec.Reports[0].Outcome != job.ReportFailed {
		t.Errorf("report %+v", rec.Reports[0])
	}
}
