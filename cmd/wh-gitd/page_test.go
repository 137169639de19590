package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// pageDaemon starts a daemon with the page on and three entries on one
// upstream: site (succeeds), broken (fails) and slow (prints a coloured
// line with markup and ready-42, waits for the file go1, prints
// after-open-42, then waits for go2). It returns the daemon, the folder of go1 and go2, and the
// upstream's commit.
func pageDaemon(t *testing.T) (*daemon, string, string) {
	t.Helper()
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	// The lines it prints are not in its own text, which the log shows too.
	slow := `printf '\033[32mgreen <b>bold</b>\033[0m\n'; echo "ready-$((6*7))"; ` +
		`while [ ! -e "$DIR/go1" ]; do sleep 0.1; done; echo "after-open-$((6*7))"; ` +
		`while [ ! -e "$DIR/go2" ]; do sleep 0.1; done; echo done`
	f := testkit.File{Top: "workers: 3\napi:\n  token: " + token, Repos: []testkit.Repo{
		{Name: "site", Remote: up.Path(), Branches: []testkit.Target{{Commands: []string{"echo deployed site"}}}},
		{Name: "broken", Remote: up.Path(), Branches: []testkit.Target{{Commands: []string{"echo going to fail; exit 3"}}}},
		{Name: "slow", Remote: up.Path(), Branches: []testkit.Target{{Commands: []string{slow},
			Env: map[string]string{"DIR": dir}}}},
	}}
	return startDaemon(t, f.Write(t, dir)), dir, sha
}

// waitJob waits until job id is in a state ok accepts, and returns it.
func (d *daemon) waitJob(t *testing.T, id string, ok func(job.State) bool) job.Record {
	t.Helper()
	var rec job.Record
	testkit.Eventually(t, "job "+id, testkit.Patience, func() bool {
		rec = d.record(t, id)
		return ok(rec.State)
	})
	return rec
}

func ended(s job.State) bool { return s.Final() }

// fetch sends a request to the daemon and returns its status, Location
// and body.
func fetch(t *testing.T, d *daemon, method, path string, form url.Values, header http.Header) (int, string, string) {
	t.Helper()
	resp, body := testkit.Fetch(t, method, "http://"+d.addr+path, form, header)
	return resp.StatusCode, resp.Header.Get("Location"), body
}

// Without the session cookie or the bearer token no route of the page
// gives any data: pages go to the login form, logs, streams and assets get
// 401, and every POST is refused; a wrong token and a forged cookie fare
// the same. With the token every page answers.
func TestPageGivesNothingWithoutLogin(t *testing.T) {
	d, dir, sha := pageDaemon(t)
	id := d.queue(t, "site", "main", sha)
	d.waitJob(t, id, ended)
	testkit.Touch(t, filepath.Join(dir, "go1"))
	testkit.Touch(t, filepath.Join(dir, "go2"))
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/jobs"}, {"GET", "/jobs?entry=site"}, {"GET", "/jobs/" + id},
		{"GET", "/jobs/" + id + "/log"}, {"GET", "/jobs/" + id + "/log?follow=1"},
		{"GET", "/jobs/" + id + "/events"}, {"GET", "/assets/follow.js"},
		{"POST", "/jobs/" + id + "/redeploy"}, {"POST", "/jobs/" + id + "/cancel"}, {"POST", "/deploy"},
		{"POST", "/logout"},
	}
	strangers := []struct {
		name   string
		header http.Header
	}{
		{"nothing", nil},
		{"wrong token", http.Header{"Authorization": {"Bearer " + token + "x"}}},
		{"forged cookie", http.Header{"Cookie": {"wh_gitd_session=" + strings.Repeat("ab", 32)}}},
	}
	for _, s := range strangers {
		for _, rt := range routes {
			t.Run(s.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				code, loc, body := fetch(t, d, rt.method, rt.path, url.Values{"entry": {"site"}}, s.header)
				switch {
				case code == http.StatusSeeOther && strings.HasPrefix(loc, "/login?next="):
				case code == http.StatusUnauthorized:
				default:
					t.Errorf("%d %q, want 303 to /login or 401", code, loc)
				}
				// The login form is told where to come back to: that is
				// the request's own path, not data.
				body = strings.ReplaceAll(body, url.QueryEscape(rt.path), "")
				for _, secret := range []string{id, sha[:7], "deployed site", "EventSource"} {
					if strings.Contains(body, secret) {
						t.Errorf("answer shows %q:\n%s", secret, body)
					}
				}
			})
		}
	}
	for _, rt := range routes[:8] {
		code, _, body := fetch(t, d, rt.method, rt.path, nil, http.Header{"Authorization": {"Bearer " + token}})
		if code != http.StatusOK || len(body) == 0 {
			t.Errorf("%s with the token: %d", rt.path, code)
		}
	}
	if jobs := d.listJobs(t); len(jobs) != 1 {
		t.Errorf("%d jobs after the refused POSTs, want 1", len(jobs))
	}
}

// listJobs lists every job through the job API.
func (d *daemon) listJobs(t *testing.T) []any {
	t.Helper()
	jobs, _ := d.api(t, http.MethodGet, "/api/jobs?limit=1000").Body["jobs"].([]any)
	return jobs
}

// login logs in with the form and returns the session cookie and the
// CSRF token of the overview's forms.
func login(t *testing.T, d *daemon) (string, string) {
	t.Helper()
	resp, _ := testkit.Fetch(t, "POST", "http://"+d.addr+"/login", url.Values{"secret": {token}, "next": {"/"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "wh_gitd_session" {
			cookie = c.Name + "=" + c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge <= 0 {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict and an expiry", c)
			}
		}
	}
	_, _, page := fetch(t, d, "GET", "/", nil, http.Header{"Cookie": {cookie}})
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if cookie == "" || m == nil {
		t.Fatalf("no session cookie or CSRF token:\n%s", page)
	}
	return cookie, m[1]
}

// A POST of the page's actions from a session needs the session's CSRF
// token and, from a browser, an Origin of this site; refused, it starts
// nothing.
func TestPageRefusesForgedPosts(t *testing.T) {
	d, dir, _ := pageDaemon(t)
	testkit.Touch(t, filepath.Join(dir, "go1"))
	testkit.Touch(t, filepath.Join(dir, "go2"))
	cookie, csrf := login(t, d)
	deploy := url.Values{"entry": {"site"}, "branch": {"main"}}
	withCSRF := url.Values{"entry": {"site"}, "branch": {"main"}, "csrf": {csrf}}
	cases := []struct {
		name   string
		form   url.Values
		header http.Header
		code   int
	}{
		{"no token", deploy, http.Header{"Cookie": {cookie}}, http.StatusForbidden},
		{"wrong token", url.Values{"entry": {"site"}, "csrf": {strings.Repeat("0", 64)}}, http.Header{"Cookie": {cookie}}, http.StatusForbidden},
		{"other origin", withCSRF, http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"cross-site fetch", withCSRF, http.Header{"Cookie": {cookie}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"same site", withCSRF, http.Header{"Cookie": {cookie}, "Origin": {"http://" + d.addr}}, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(d.listJobs(t))
			code, _, _ := fetch(t, d, "POST", "/deploy", tc.form, tc.header)
			if code != tc.code {
				t.Fatalf("%d, want %d", code, tc.code)
			}
			want := before
			if tc.code == http.StatusSeeOther {
				want++
			}
			if got := len(d.listJobs(t)); got != want {
				t.Errorf("%d jobs, want %d", got, want)
			}
		})
	}
	code, _, _ := fetch(t, d, "POST", "/login", url.Values{"secret": {token}},
		http.Header{"Origin": {"http://evil.example"}})
	if code != http.StatusForbidden {
		t.Errorf("login from another origin: %d, want 403", code)
	}
}
