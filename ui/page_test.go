package ui_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/ui"
)

const token = "ui-test-token-0123456789"

// page is the status page over a real runner and job store, served by
// httptest, with one entry, site, on a real upstream.
type page struct {
	h   *ui.Handler
	rn  *runner.Runner
	srv *httptest.Server
	sha string
}

// newPage serves the page with settings f, whose entries deploy a fresh
// upstream's main.
func newPage(t *testing.T, f testkit.File) *page {
	t.Helper()
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	p := &page{sha: up.Commit(t, "main", map[string]string{"f": "x"}, "first commit")}
	for i := range f.Repos {
		f.Repos[i].Remote = up.Path()
	}
	set := f.Load(t, dir)
	store, err := jobstore.Open(set.StateDir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.rn = runner.New(runner.Options{Settings: set, Syncer: gitsyncer.New(zerolog.Nop()), Store: store, Logger: zerolog.Nop()})
	if _, err := p.rn.Start(); err != nil {
		t.Fatal(err)
	}
	p.h = ui.New(ui.Options{Settings: set, Jobs: p.rn, Logger: zerolog.Nop()})
	p.srv = httptest.NewServer(p.h)
	t.Cleanup(func() {
		p.srv.Close()
		_ = p.rn.Close(context.Background())
		store.Close()
	})
	return p
}

// withToken is a settings file with the page on and one entry, site.
func withToken(extra string) testkit.File {
	return testkit.File{Top: "api: {token: " + token + "}\n" + extra, Repos: []testkit.Repo{{}}}
}

// do sends a request without following redirects.
func (p *page) do(t *testing.T, method, path string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	return testkit.Fetch(t, method, p.srv.URL+path, form, header)
}

// bearer is the header of a script with the token.
func bearer() http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// login logs in with secret and returns the session cookie ("" when the
// login was refused) and the answer's status.
func (p *page) login(t *testing.T, secret string) (string, int) {
	t.Helper()
	resp, _ := p.do(t, "POST", "/login", url.Values{"secret": {secret}}, nil)
	for _, c := range resp.Cookies() {
		if c.Name == "wh_gitd_session" && c.Value != "" {
			return c.Name + "=" + c.Value, resp.StatusCode
		}
	}
	return "", resp.StatusCode
}

// run deploys site's main through the runner and waits for its end.
func (p *page) run(t *testing.T) *job.Record {
	t.Helper()
	jb, err := p.rn.Manual("site", "main", "", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := p.rn.Submit(jb)
	if err != nil {
		t.Fatal(err)
	}
	var rec *job.Record
	testkit.Eventually(t, "job "+rc.ID, testkit.Patience, func() bool {
		rec, err = p.rn.Get(rc.ID)
		return err == nil && rec.State.Final()
	})
	return rec
}

// Without api.token the page is off: every path answers 404.
func TestPageOffWithoutToken(t *testing.T) {
	p := newPage(t, testkit.File{})
	for _, path := range []string{"/", "/login", "/jobs", "/assets/follow.js"} {
		if resp, _ := p.do(t, "GET", path, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// The whole weight of each page, HTML with its inline style sheet and the
// script, is under 50 KB without the log.
func TestPageWeight(t *testing.T) {
	p := newPage(t, withToken(""))
	rec := p.run(t)
	_, script := p.do(t, "GET", "/assets/follow.js", nil, bearer())
	logText := regexp.MustCompile(`(?s)<pre id="log"[^>]*>.*</pre>`)
	for _, path := range []string{"/login", "/", "/jobs", "/jobs/" + rec.ID} {
		resp, body := p.do(t, "GET", path, nil, bearer())
		if path == "/login" {
			resp, body = p.do(t, "GET", path, nil, nil)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		weight := len(logText.ReplaceAllString(body, "")) + len(script)
		t.Logf("%s: %d bytes of HTML and CSS, %d of script", path, len(body), len(script))
		if weight >= 50_000 {
			t.Errorf("%s weighs %d bytes, want under 50 KB", path, weight)
		}
		if !strings.Contains(body, `name="viewport"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: no viewport or no content security policy", path)
		}
	}
}

// With ui.password_file the login form takes the password and not the
// token; scripts still send the token.
func TestPagePasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := testkit.WriteFile(t, dir+"/ui.password", "a-long-ui-password-0123\n")
	p := newPage(t, withToken("ui: {password_file: "+pw+"}"))
	cases := []struct {
		secret string
		code   int
	}{
		{token, http.StatusUnauthorized},
		{"a-long-ui-password-0123", http.StatusSeeOther},
	}
	for _, tc := range cases {
		if cookie, code := p.login(t, tc.secret); code != tc.code || (cookie != "") != (code == http.StatusSeeOther) {
			t.Errorf("login with %q: %d (cookie %v), want %d", tc.secret, code, cookie != "", tc.code)
		}
	}
	if resp, _ := p.do(t, "GET", "/", nil, bearer()); resp.StatusCode != http.StatusOK {
		t.Errorf("bearer token: %d", resp.StatusCode)
	}
}

// A session ends when the settings no longer hold the secret it logged in
// with, and at logout.
func TestPageSessionEnds(t *testing.T) {
	p := newPage(t, withToken(""))
	cookie, _ := p.login(t, token)
	if resp, _ := p.do(t, "GET", "/", nil, http.Header{"Cookie": {cookie}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("with the session: %d", resp.StatusCode)
	}
	p.h.SetSettings(withToken("").Load(t, "")) // the same token
	if resp, _ := p.do(t, "GET", "/", nil, http.Header{"Cookie": {cookie}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a reload with the same token: %d", resp.StatusCode)
	}
	f := withToken("")
	f.Top = "api: {token: another-token-0123456789}"
	p.h.SetSettings(f.Load(t, ""))
	if resp, _ := p.do(t, "GET", "/", nil, http.Header{"Cookie": {cookie}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the token changed: %d, want 303 to the login", resp.StatusCode)
	}
}

// Wrong logins from one address are limited: after five, even the right
// token waits, with Retry-After.
func TestPageLoginRateLimited(t *testing.T) {
	p := newPage(t, withToken(""))
	for i := range 5 {
		if _, code := p.login(t, "wrong-token-"+string(rune('a'+i))); code != http.StatusUnauthorized {
			t.Fatalf("wrong login %d: %d", i+1, code)
		}
	}
	resp, body := p.do(t, "POST", "/login", url.Values{"secret": {token}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || len(resp.Cookies()) > 0 {
		t.Errorf("sixth login: %d, Retry-After %q, %d cookies", resp.StatusCode, resp.Header.Get("Retry-After"), len(resp.Cookies()))
	}
	if !strings.Contains(body, "Too many wrong attempts") {
		t.Errorf("the login form does not say why:\n%s", body)
	}
}

// The cookie is Secure when people reach the page over HTTPS (public_url).
func TestPageCookieSecureBehindTLS(t *testing.T) {
	for _, tc := range []struct {
		top    string
		secure bool
	}{{"", false}, {"public_url: https://deploy.example.com", true}} {
		p := newPage(t, withToken(tc.top))
		resp, _ := p.do(t, "POST", "/login", url.Values{"secret": {token}}, nil)
		c := resp.Cookies()
		if len(c) != 1 || c[0].Secure != tc.secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
			t.Errorf("%q: cookies %+v, want one, Secure %v", tc.top, c, tc.secure)
		}
	}
}

// /jobs filters by entry, state and event, newest first, in pages.
func TestPageJobsFiltersAndPages(t *testing.T) {
	p := newPage(t, withToken(""))
	var ids []string
	for range 27 {
		ids = append(ids, p.run(t).ID)
	}
	jobIDs := regexp.MustCompile(`<a href="/jobs/([0-9a-f]+)"><code>`)
	found := func(body string) []string {
		var out []string
		for _, m := range jobIDs.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	_, first := p.do(t, "GET", "/jobs?entry=site&state=succeeded&event=manual", nil, bearer())
	got := found(first)
	if len(got) != 25 || got[0] != ids[26] || got[24] != ids[2] {
		t.Fatalf("first page: %d jobs from %v, want 25 newest first", len(got), got)
	}
	older := regexp.MustCompile(`href="(/jobs\?[^"]+)" rel="next"`).FindStringSubmatch(first)
	if older == nil {
		t.Fatal("no link to older jobs")
	}
	_, second := p.do(t, "GET", strings.ReplaceAll(older[1], "&amp;", "&"), nil, bearer())
	if got := found(second); len(got) != 2 || got[0] != ids[1] || got[1] != ids[0] {
		t.Errorf("second page: %v, want the two oldest", got)
	}
	for _, q := range []string{"event=push", "state=failed", "entry=other"} {
		if _, body := p.do(t, "GET", "/jobs?"+q, nil, bearer()); len(found(body)) != 0 {
			t.Errorf("%s: lists jobs", q)
		}
	}
	if resp, _ := p.do(t, "GET", "/jobs?state=bogus", nil, bearer()); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown state: %d", resp.StatusCode)
	}
}

// A job's page shows the whole record: trigger, commits with the deployed
// commit's subject and author, each command with its exit code, the sync,
// and the escaped log.
func TestPageJobRecord(t *testing.T) {
	f := withToken("public_url: https://deploy.example.com")
	f.Repos[0].Branches = []testkit.Target{{Commands: []string{`echo '<i>x</i>'`, "exit 4"}, Extra: "on_failure: [echo told]"}}
	p := newPage(t, f)
	rec := p.run(t)
	resp, body := p.do(t, "GET", "/jobs/"+rec.ID, nil, bearer())
	if resp.StatusCode != http.StatusOK || rec.State != job.Failed {
		t.Fatalf("%d, job %s", resp.StatusCode, rec.State)
	}
	for _, want := range []string{
		"Started by</dt><dd>test", p.sha, "first commit", "by gitsynctest", "<code>exit 4</code></td><td>4</td>",
		`<span class="muted">on_failure:</span> <code>echo told</code></td><td>0</td>`,
		"1 files written", "&lt;i&gt;x&lt;/i&gt;", `href="https://deploy.example.com/jobs/` + rec.ID + `"`,
		"Redeploy <code>" + p.sha[:7] + "</code>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<i>x</i>") || strings.Contains(body, "follow.js") {
		t.Error("the log is markup, or a finished job's page follows it")
	}
	if resp, _ := p.do(t, "GET", "/jobs/nope", nil, bearer()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown job: %d", resp.StatusCode)
	}
}
