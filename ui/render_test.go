package ui

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/wh-gitd/wh-gitd/job"
)

// marker is the harmless value the pages are first rendered with: where
// it shows, a hostile value must show the same way.
const marker = "Vq9marker"

// hostileValues are what a forge, a pusher or a command could put in a
// record, and what a visitor could put in a link.
var hostileValues = []string{
	"<script>alert(1)</script>",
	`"' onmouseover=x`,
	"&amp;",
	"javascript:alert(1)",
	"JavaScript:alert(1)",
	"</pre><img src=x onerror=alert(1)>",
	"--><!--",
	"Jürgen ✓ 日本",
	"a b?c&d#e/f=g+h%2F",
	"x\x00y",
	"bad\xffbytes",
}

// testPages are the pages, each with every value that reaches it from
// outside the code set to v.
func testPages(v string) map[string]struct {
	vw view
	c  content
} {
	live, ended := hostileRecord(v, job.Running), hostileRecord(v, job.Failed)
	ended.Environment = v
	branch := row{Repo: v, Kind: "branch", Name: v, Tip: true, Last: ended, Deployed: ended, Active: []*job.Record{live}}
	env := branch
	env.Kind = "environment"
	frame := view{Title: v, Who: v, CSRF: v}
	return map[string]struct {
		vw view
		c  content
	}{
		"login":    {view{Title: v}, loginData{Next: v, Label: v, Message: v}.page},
		"error":    {frame, errorData{Status: 400, Message: v, Hint: v}.page},
		"overview": {frame, overviewData{Rows: []row{branch, env}, Failing: 2}.page},
		"jobs": {frame, jobsData{Jobs: []*job.Record{live, ended}, Entry: v, State: v, Event: v,
			Entries: []string{v}, States: []string{v}, Events: []string{v}, Newer: true, Older: v}.page},
		"running job": {view{Title: v, Who: v, CSRF: v, Follow: true},
			jobData{Rec: live, Link: v, Log: v, LogBytes: 12, Truncated: true, Redeploy: "0123456789abcdef"}.page},
		"ended job": {frame, jobData{Rec: ended, Link: v, Log: v, Redeploy: "0123456789abcdef"}.page},
	}
}

// hostileRecord is a record in state st whose every text is v.
func hostileRecord(v string, st job.State) *job.Record {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return &job.Record{
		Job: &job.Job{ID: v, Repo: v, Provider: v, Event: v, Delivery: v, Ref: v, Branch: v, SHA: v, Pusher: v,
			By: v, RetryOf: v, Queued: at},
		Deployed: "0123456789abcdef", State: st, Attempts: 2, Started: at, Finished: at.Add(time.Minute),
		Sync: job.SyncResult{Previous: v, Tip: "fedcba9876543210", Delivered: v, Subject: v, Author: v,
			Cloned: true, Written: 1, Overwritten: []string{v}, Cleaned: 1},
		Commands:     []job.CommandResult{{Command: v, ExitCode: 1, Phase: v}},
		Error:        v,
		Note:         v,
		SupersededBy: v,
		Reports:      []job.Report{{To: v, State: v, Outcome: v, Error: v, Code: 500}},
	}
}

// Every value from outside arrives in the page as the text it was: it
// never adds an element or an attribute, never leaves its URL's path
// segment or query value, and a whole URL with a scheme other than http
// or https is neutralised.
func TestPagesEscapeHostileValues(t *testing.T) {
	want := testPages(marker)
	for _, v := range hostileValues {
		for name, pg := range testPages(v) {
			t.Run(fmt.Sprintf("%s/%q", name, v), func(t *testing.T) {
				base, got := readPage(renderPage(want[name].vw, want[name].c)), readPage(renderPage(pg.vw, pg.c))
				if !slices.Equal(got.shape, base.shape) {
					t.Fatalf("the page's elements and attributes changed:\n got %q\nwant %q", got.shape, base.shape)
				}
				decoded := strings.ReplaceAll(v, "\x00", "\uFFFD")
				if g, w := strings.Count(got.texts, decoded), strings.Count(base.texts, marker); g != w {
					t.Errorf("the value shows %d times as text, want %d", g, w)
				}
				for i, u := range got.urls {
					checkURL(t, u, base.urls[i], v)
				}
			})
		}
	}
}

// checkURL checks a link of the page made with v against the link made
// with the marker: a whole URL keeps only a safe scheme, a built one keeps
// the shape it has with the marker.
func checkURL(t *testing.T, got, base, v string) {
	t.Helper()
	u, err := url.Parse(got)
	if err != nil {
		t.Errorf("link %q: %v", got, err)
		return
	}
	if base == marker { // the value is the whole URL
		script := strings.HasPrefix(strings.ToLower(v), "javascript:")
		if script != (got == "#ZgotmplZ") || u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
			t.Errorf("link %q from %q is not neutralised", got, v)
		}
		return
	}
	b, _ := url.Parse(base)
	if strings.Count(u.EscapedPath(), "/") != strings.Count(b.EscapedPath(), "/") || u.Fragment != b.Fragment ||
		!slices.Equal(slices.Sorted(maps.Keys(u.Query())), slices.Sorted(maps.Keys(b.Query()))) {
		t.Errorf("link %q does not have the shape of %q", got, base)
	}
}

// Values as the daemon writes them arrive as they are, links included.
func TestPagesKeepNormalValues(t *testing.T) {
	rec := hostileRecord("site", job.Succeeded)
	rec.ID, rec.SHA, rec.Sync.Subject, rec.Sync.Author = "0a1b2c", "0123456789abcdef", "Fix the build (#12)", "Jürgen"
	rec.Commands[0].Command = "make deploy && ./notify.sh"
	older := "/jobs?before=0a1b2c&entry=site&state=failed"
	cases := []struct {
		name string
		c    content
		want []string
	}{
		{"job", jobData{Rec: rec, Link: "https://deploy.example.com/jobs/0a1b2c", Log: "ok: 3 files\n", Redeploy: rec.Deployed}.page, []string{
			`href="https://deploy.example.com/jobs/0a1b2c"`, `action="/jobs/0a1b2c/redeploy"`, `href="/jobs/0a1b2c/log"`,
			"<br>Fix the build (#12) <span", `by Jürgen</span>`, "<code>make deploy &amp;&amp; ./notify.sh</code>",
			">ok: 3 files\n</pre>", "<dt>Pushed by</dt><dd>site</dd>"}},
		{"jobs", jobsData{Jobs: []*job.Record{rec}, Entry: "site", State: "failed", Newer: true, Older: older}.page, []string{
			`href="/jobs?before=0a1b2c&amp;entry=site&amp;state=failed" rel="next"`,
			`href="/jobs?entry=site&amp;state=failed&amp;event="`, `<a href="/jobs/0a1b2c"><code>0a1b2c</code></a>`}},
		{"overview", overviewData{Rows: []row{{Repo: "my site", Kind: "branch", Name: "main", Tip: true}}}.page, []string{
			`href="/jobs?entry=my%20site">my site</a>`, `name="branch" value="main"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page := renderPage(view{Title: "t", Who: "page"}, tc.c)
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

// renderPage is the page as the handler writes it.
func renderPage(vw view, c content) string {
	var w writer
	layout(&w, vw, "main{}", c)
	return w.b.String()
}

// pageParts is a page as a browser reads it.
type pageParts struct {
	// shape is each tag with the names of its attributes.
	shape []string
	// texts are the text and the attribute values but links, decoded.
	texts string
	// urls are the links: href, action and data-follow, decoded.
	urls []string
}

// readPage splits page into its parts with an HTML tokenizer.
func readPage(page string) pageParts {
	var p pageParts
	z := html.NewTokenizer(strings.NewReader(page))
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		tok := z.Token()
		if tt == html.TextToken {
			p.texts += tok.Data + "\x01"
			continue
		}
		shape := tt.String() + " " + tok.Data
		for _, a := range tok.Attr {
			shape += " " + a.Key
			if a.Key == "href" || a.Key == "action" || a.Key == "data-follow" {
				p.urls = append(p.urls, a.Val)
			} else {
				p.texts += a.Val + "\x01"
			}
		}
		p.shape = append(p.shape, shape)
	}
	return p
}

// benchJob is a finished job's page with a 1 MiB log of build output.
func benchJob() (view, jobData) {
	rec := hostileRecord("site", job.Succeeded)
	rec.ID, rec.SHA = "0a1b2c3d4e5f", "0123456789abcdef0123456789abcdef01234567"
	var log strings.Builder
	for i := 0; log.Len() < maxInlineLog; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&log, "warning: src/file_%d.go: \"x\" < 'y' && z > 0\n", i)
		} else {
			fmt.Fprintf(&log, "  CC      build/obj/module_%04d.o (%d of many), all fine so far\n", i, i)
		}
	}
	return view{Title: "Job " + rec.ID, Who: "page", CSRF: "token"}, jobData{Rec: rec, Log: log.String()}
}

// benchOverview is the overview of 20 targets, each with a last job, a
// deployed commit and a job waiting.
func benchOverview() (view, overviewData) {
	var d overviewData
	for i := range 20 {
		rec := hostileRecord(fmt.Sprintf("entry-%d", i/2), job.Failed)
		rec.ID, rec.Sync.Subject, rec.Sync.Author = fmt.Sprintf("%012x", i), "Fix the build & the <docs>", "Jürgen"
		d.Rows = append(d.Rows, row{Repo: rec.Repo, Kind: "branch", Name: fmt.Sprint("main-", i), Tip: true,
			Last: rec, Deployed: rec, Active: []*job.Record{rec}})
	}
	d.Failing = 20
	return view{Title: "Overview", Who: "page", CSRF: "token"}, d
}

func BenchmarkJobPage(b *testing.B) {
	vw, d := benchJob()
	benchPage(b, vw, d.page)
}

func BenchmarkOverview(b *testing.B) {
	vw, d := benchOverview()
	benchPage(b, vw, d.page)
}

// benchPage renders a page as the handler does, with the style sheet.
func benchPage(b *testing.B, vw view, c content) {
	css := string(styleSheet())
	b.ReportAllocs()
	for b.Loop() {
		var w writer
		w.b.Grow(len(css) + 16<<10)
		layout(&w, vw, css, c)
	}
}
