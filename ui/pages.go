package ui

import (
	"cmp"
	"net/http"
	"strconv"

	"github.com/wh-gitd/wh-gitd/job"
)

// content writes a page's main part; csrf is the visitor's form token.
type content func(w *writer, csrf string)

// layout writes the page's frame around its content, with the style
// sheet css inline.
func layout(w *writer, vw view, css string, c content) {
	w.put(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>`).text(vw.Title).put(` · wh-gitd</title>
<style>`).put(markup(css)).put(`</style>`) // the embedded style sheet: trusted
	if vw.Follow {
		w.put("\n" + `<script src="/assets/follow.js" defer></script>`)
	}
	w.put(`
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Main">
<a href="/" class="brand">wh-gitd</a>`)
	if vw.Who != "" {
		w.put(`
<a href="/">Overview</a>
<a href="/jobs">Jobs</a>
<form method="post" action="/logout" class="logout">`)
		if vw.CSRF != "" {
			w.csrf(vw.CSRF)
		}
		w.put("\n" + `<span class="muted">`).text(vw.Who).put(`</span>
<button type="submit">Log out</button>
</form>`)
	}
	w.put(`
</nav>
</header>
<main id="main">
`)
	c(w, vw.CSRF)
	w.put(`
</main>
</body>
</html>
`)
}

// page writes the login form.
func (d loginData) page(w *writer, _ string) {
	w.put("\n<h1>Log in</h1>")
	if d.Message != "" {
		w.put("\n" + `<p class="alert" role="alert">`).text(d.Message).put(`</p>`)
	}
	w.put(`
<form method="post" action="/login" class="login">
<input type="hidden" name="next" value="`).text(d.Next).put(`">
<label for="secret">`).text(d.Label).put(`</label>
<input id="secret" name="secret" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
<p class="muted">Scripts may send <code>Authorization: Bearer</code> with the API token instead.</p>
`)
}

// page writes the error page.
func (d errorData) page(w *writer, _ string) {
	w.put("\n<h1>").num(d.Status).put(" ").text(http.StatusText(d.Status)).put("</h1>\n").
		put(`<p class="alert" role="alert">`).text(d.Message).put(`</p>`)
	if d.Hint != "" {
		w.put("\n<p>Hint: ").text(d.Hint).put(`</p>`)
	}
	w.put("\n" + `<p><a href="/">Back to the overview</a></p>` + "\n")
}

// page writes the overview: every target, its last job and its commit.
func (d overviewData) page(w *writer, csrf string) {
	w.put("\n<h1>Overview</h1>")
	if d.Failing != 0 {
		w.put("\n" + `<p class="alert" role="status">`).num(d.Failing).put(" failing ")
		if d.Failing == 1 {
			w.put("target")
		} else {
			w.put("targets")
		}
		w.put(`: marked below.</p>`)
	}
	if d.Unread {
		w.put("\n" + `<p class="alert">Some job records could not be read: see the daemon's log.</p>`)
	}
	w.put(`
<div class="scroll">
<table>
<caption class="sr">Every configured branch and environment, its last job and the commit it deployed</caption>
<thead><tr><th scope="col">Target</th><th scope="col">Last job</th><th scope="col">Deployed commit</th><th scope="col">Now</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
<tbody>`)
	for _, rw := range d.Rows {
		rw.write(w, csrf)
	}
	w.put("\n</tbody>\n</table>\n</div>\n")
}

// write writes the overview's row of one target.
func (r row) write(w *writer, csrf string) {
	w.put("\n<tr").put(failingClass(r.Failing())).put(">\n").
		put(`<th scope="row"><a href="/jobs?entry=`).part(r.Repo).put(`">`).text(r.Repo).
		put(`</a><br><span class="muted">`).text(r.Kind).put(`</span> `).text(r.Name).put("</th>\n<td>")
	if rec := r.Last; rec != nil {
		w.put(`<a href="/jobs/`).part(rec.ID).put(`" class="state s-`).text(string(rec.State)).put(`">`).
			put(failingMark(rec.State)).text(string(rec.State)).put(`</a><br><span class="muted">`).time(rec.Finished)
		if t := took(rec); t != "" {
			w.put(" · ").text(t)
		}
		w.put(`</span>`)
	} else {
		w.put(`<span class="muted">no job yet</span>`)
	}
	w.put("</td>\n<td>")
	if rec := r.Deployed; rec != nil {
		w.put(`<a href="/jobs/`).part(rec.ID).put(`"><code>`).text(short(deployed(rec))).put(`</code></a> `).
			text(rec.Sync.Subject)
		if rec.Sync.Author != "" {
			w.put(`<br><span class="muted">by `).text(rec.Sync.Author).put(`</span>`)
		}
	} else {
		w.put(`<span class="muted">none yet</span>`)
	}
	w.put("</td>\n<td>")
	for _, rec := range r.Active {
		w.put(`<a href="/jobs/`).part(rec.ID).put(`" class="state s-`).text(string(rec.State)).put(`">`).
			text(string(rec.State)).put(`</a> `)
	}
	if len(r.Active) == 0 {
		w.put(`<span class="muted">idle</span>`)
	}
	w.put("</td>\n<td>")
	if r.Tip {
		r.deployForm(w, csrf)
	}
	w.put("</td>\n</tr>")
}

// deployForm writes the button that deploys the row's branch tip.
func (r row) deployForm(w *writer, csrf string) {
	w.put(`<form method="post" action="/deploy">` + "\n").csrf(csrf).
		put(`<input type="hidden" name="entry" value="`).text(r.Repo).put(`">`)
	if b := r.Branch(); b != "" {
		w.put(`<input type="hidden" name="branch" value="`).text(b).put(`">`)
	}
	if e := r.Environment(); e != "" {
		w.put(`<input type="hidden" name="environment" value="`).text(e).put(`">`)
	}
	w.put("\n" + `<button type="submit" aria-label="Deploy the tip of `).text(r.Repo).put(" ").text(r.Kind).
		put(" ").text(r.Name).put(`">Deploy tip</button></form>`)
}

// page writes the job history: its filters, one page of jobs and the
// links to the others.
func (d jobsData) page(w *writer, _ string) {
	w.put("\n<h1>Jobs</h1>\n" + `<form method="get" action="/jobs" class="filters">` + "\n")
	choice(w, "entry", "Entry", d.Entries, d.Entry)
	choice(w, "state", "State", d.States, d.State)
	choice(w, "event", "Event", d.Events, d.Event)
	w.put(`<button type="submit">Filter</button>
</form>
<div class="scroll">
<table>
<caption class="sr">Jobs, newest first</caption>
<thead><tr><th scope="col">Job</th><th scope="col">State</th><th scope="col">Entry and target</th><th scope="col">Event</th><th scope="col">Commit</th><th scope="col">Queued</th><th scope="col">Took</th></tr></thead>
<tbody>`)
	for _, rec := range d.Jobs {
		jobsRow(w, rec)
	}
	if len(d.Jobs) == 0 {
		w.put("\n" + `<tr><td colspan="7">No jobs.</td></tr>`)
	}
	w.put("\n</tbody>\n</table>\n</div>\n" + `<p class="pages">`)
	if d.Newer {
		w.put(`<a href="/jobs?entry=`).part(d.Entry).put(`&amp;state=`).part(d.State).
			put(`&amp;event=`).part(d.Event).put(`">Newest</a>`)
	}
	w.put("\n")
	if d.Older != "" {
		w.put(`<a href="`).url(d.Older).put(`" rel="next">Older jobs</a>`)
	}
	w.put("</p>\n")
}

// choice writes a filter of the history: a labelled select of options,
// chosen selected, whose first option is any.
func choice(w *writer, name, label markup, options []string, chosen string) {
	w.put(`<label for="` + name + `">` + label + `</label>` + "\n").
		put(`<select id="` + name + `" name="` + name + `"><option value="">any</option>`)
	for _, o := range options {
		w.put("<option")
		if o == chosen {
			w.put(" selected")
		}
		w.put(">").text(o).put("</option>")
	}
	w.put("</select>\n")
}

// jobsRow writes a job's row of the history.
func jobsRow(w *writer, rec *job.Record) {
	w.put("\n<tr").put(failingClass(failing(rec.State))).put(">\n").
		put(`<td><a href="/jobs/`).part(rec.ID).put(`"><code>`).text(rec.ID).put("</code></a></td>\n").
		put(`<td><span class="state s-`).text(string(rec.State)).put(`">`).text(string(rec.State)).put("</span></td>\n").
		put("<td>").text(rec.Repo).put(` <span class="muted">`).text(target(rec)).put("</span></td>\n").
		put("<td>").text(rec.Event)
	if rec.By != "" {
		w.put(` <span class="muted">by `).text(rec.By).put(`</span>`)
	}
	w.put("</td>\n<td>")
	if c := cmp.Or(deployed(rec), rec.SHA); c != "" {
		w.put("<code>").text(short(c)).put("</code>")
	}
	w.put("</td>\n<td>").time(rec.Queued).put("</td>\n<td>").text(took(rec)).put("</td>\n</tr>")
}

// failingClass is the class attribute of a row that stands out.
func failingClass(f bool) markup {
	if f {
		return ` class="failing"`
	}
	return ""
}

// failingMark is the mark before the state of a job that did not succeed.
func failingMark(s job.State) markup {
	if failing(s) {
		return "✗ "
	}
	return ""
}

// page writes a job's record, its actions and its log.
func (d jobData) page(w *writer, csrf string) {
	rec := d.Rec
	w.b.Grow(len(d.Log) + len(d.Log)/4) // the log, escaped, is most of the page
	d.head(w, csrf)
	jobTrigger(w, rec)
	jobCommits(w, rec)
	jobCommands(w, rec.Commands)
	if deployed(rec) != "" {
		jobSync(w, &rec.Sync)
	}
	jobReports(w, rec.Reports)
	d.log(w)
}

// head writes the job's title, what it deployed where, why it failed and
// its actions.
func (d jobData) head(w *writer, csrf string) {
	rec := d.Rec
	w.put("\n<h1>Job <code>").text(rec.ID).put(`</code> <span id="state" class="state s-`).text(string(rec.State)).
		put(`">`).put(failingMark(rec.State)).text(string(rec.State)).put("</span></h1>\n<p>").
		text(rec.Repo).put(", ").text(target(rec))
	if d.Link != "" {
		w.put(` · <a href="`).url(d.Link).put(`">link to share</a>`)
	}
	w.put("</p>")
	if rec.Error != "" {
		w.put("\n" + `<p class="alert" role="alert">`).text(rec.Error).put("</p>")
	}
	if rec.Note != "" {
		w.put("\n" + `<p class="note">`).text(rec.Note).put("</p>")
	}
	w.put("\n" + `<div class="actions">`)
	if d.Redeploy != "" {
		w.put("\n" + `<form method="post" action="/jobs/`).part(rec.ID).put(`/redeploy">`).csrf(csrf).
			put("\n" + `<button type="submit">Redeploy <code>`).text(short(d.Redeploy)).put("</code></button></form>")
	}
	if !rec.State.Final() {
		w.put("\n" + `<form method="post" action="/jobs/`).part(rec.ID).put(`/cancel">`).csrf(csrf).
			put("\n" + `<button type="submit" class="danger">Cancel job</button></form>`)
	}
	w.put("\n</div>")
}

// jobTrigger writes what started the job, and when it ran.
func jobTrigger(w *writer, rec *job.Record) {
	w.put("\n\n").section("trigger", "Trigger").put("<dl>\n<dt>Event</dt><dd>").text(rec.Event).put(" from ").text(rec.Provider).put("</dd>")
	w.item("Ref", rec.Ref, true).item("Delivery", rec.Delivery, true).
		item("Pushed by", rec.Pusher, false).item("Started by", rec.By, false).
		jobItem("Tries again", rec.RetryOf).jobItem("Replaced by", rec.SupersededBy).
		put("\n<dt>Queued</dt><dd>").time(rec.Queued).put("</dd>")
	if !rec.Started.IsZero() {
		w.put("<dt>Started</dt><dd>").time(rec.Started)
		if rec.Attempts > 1 {
			w.put(" (attempt ").num(rec.Attempts).put(")")
		}
		w.put("</dd>")
	}
	if !rec.Finished.IsZero() {
		w.put("<dt>Finished</dt><dd>").time(rec.Finished)
		if t := took(rec); t != "" {
			w.put(", took ").text(t)
		}
		w.put("</dd>")
	}
	w.put("\n</dl>\n</section>")
}

// jobCommits writes the commit delivered, the one deployed and the one
// before.
func jobCommits(w *writer, rec *job.Record) {
	w.put("\n\n").section("commits", "Commits").put("<dl>\n<dt>Delivered</dt><dd>")
	if rec.SHA != "" {
		w.put("<code>").text(rec.SHA).put("</code>")
	} else {
		w.put(`<span class="muted">the branch's tip</span>`)
	}
	w.put("</dd>\n<dt>Deployed</dt><dd>")
	if c := deployed(rec); c != "" {
		w.put("<code>").text(c).put("</code>")
	} else {
		w.put(`<span class="muted">none</span>`)
	}
	if rec.Sync.Subject != "" {
		w.put("<br>").text(rec.Sync.Subject)
	}
	if rec.Sync.Author != "" {
		w.put(` <span class="muted">by `).text(rec.Sync.Author).put("</span>")
	}
	w.put("</dd>").item("Before", rec.Sync.Previous, true).put("\n</dl>\n</section>")
}

// jobCommands writes each command of the job with its exit code.
func jobCommands(w *writer, cmds []job.CommandResult) {
	if len(cmds) == 0 {
		return
	}
	w.put("\n").section("commands", "Commands").put(`<div class="scroll"><table>
<thead><tr><th scope="col">Command</th><th scope="col">Exit code</th><th scope="col">Took</th></tr></thead>
<tbody>`)
	for _, c := range cmds {
		w.put("\n<tr").put(failingClass(c.ExitCode != 0)).put("><td>")
		if c.Phase != "" {
			w.put(`<span class="muted">`).text(c.Phase).put(":</span> ")
		}
		w.put("<code>").text(c.Command).put("</code></td><td>").num(c.ExitCode).put("</td><td>").
			text(duration(c.Duration)).put("</td></tr>")
	}
	w.put("\n</tbody>\n</table></div>\n</section>")
}

// jobSync writes what the sync changed in the working copy.
func jobSync(w *writer, s *job.SyncResult) {
	w.put("\n").section("sync", "Sync").put("<p>")
	if s.Cloned {
		w.put("Cloned; ")
	}
	w.num(s.Written).put(" files written, ").num(s.Removed).put(" removed")
	if s.Cleaned != 0 {
		w.put(", ").num(s.Cleaned).put(" cleaned")
	}
	w.put(".")
	if s.Delivered != "" {
		w.put(" Delivered commit: ").text(s.Delivered)
	}
	if s.Tip != "" {
		w.put(" (tip <code>").text(short(s.Tip)).put("</code>)")
	}
	w.put("</p>")
	if len(s.Overwritten) > 0 {
		w.put("\n<p>Local changes overwritten:</p>\n<ul>")
		for _, f := range s.Overwritten {
			w.put("<li><code>").text(f).put("</code></li>")
		}
		w.put("</ul>")
	}
	w.put("\n</section>")
}

// jobReports writes the statuses and notifications the job sent, and how
// each went.
func jobReports(w *writer, reports []job.Report) {
	if len(reports) == 0 {
		return
	}
	w.put("\n").section("reports", "Reported back").put(`<div class="scroll"><table>
<thead><tr><th scope="col">To</th><th scope="col">State</th><th scope="col">Outcome</th><th scope="col">Attempts</th><th scope="col">Answer</th></tr></thead>
<tbody>`)
	for _, r := range reports {
		w.put("\n<tr").put(failingClass(r.Outcome == "failed" || r.Outcome == "gave_up")).put("><td>").
			text(r.To).put("</td><td>").text(r.State).put("</td><td>").text(r.Outcome)
		if r.Error != "" {
			w.put(`<br><span class="muted">`).text(r.Error).put("</span>")
		}
		w.put("</td><td>").num(r.Attempts).put("</td><td>")
		if r.Code != 0 {
			w.num(r.Code)
		} else {
			w.put(`<span class="muted">none</span>`)
		}
		w.put("</td></tr>")
	}
	w.put("\n</tbody>\n</table></div>\n</section>")
}

// log writes the job's log, which follows the job while it runs.
func (d jobData) log(w *writer) {
	rec, live := d.Rec, !d.Rec.State.Final()
	w.put("\n\n").section("log", "Log").put(`<p><a href="/jobs/`).part(rec.ID).put(`/log">Plain text</a>`)
	if live {
		w.put(` · <a href="/jobs/`).part(rec.ID).put(`/log?follow=1">follow as plain text</a> · ` +
			`<span id="live" role="status">the log below follows the job live</span>`)
	}
	w.put("</p>")
	if d.Truncated {
		w.put("\n" + `<p class="note">Only the first MiB of the log is shown here: see the plain text for all of it.</p>`)
	}
	w.put("\n" + `<pre id="log" tabindex="0" aria-label="Job log"`)
	if live {
		w.put(` data-follow="/jobs/`).part(rec.ID).put("/events?from=").text(strconv.FormatInt(d.LogBytes, 10)).put(`"`)
	}
	w.put(">").text(d.Log).put("</pre>\n</section>\n")
}

// section opens a section of the job's page headed title; its heading's
// id is h-name.
func (w *writer) section(name, title markup) *writer {
	return w.put(`<section aria-labelledby="h-` + name + `">` + "\n" + `<h2 id="h-` + name + `">` + title + "</h2>\n")
}

// item writes a term of a description list and its value, when there is
// one, the value as code or as text.
func (w *writer) item(term markup, value string, code bool) *writer {
	switch {
	case value == "":
	case code:
		w.put("<dt>" + term + "</dt><dd><code>").text(value).put("</code></dd>")
	default:
		w.put("<dt>" + term + "</dt><dd>").text(value).put("</dd>")
	}
	return w
}

// jobItem writes a term and the job id it links to, when there is one.
func (w *writer) jobItem(term markup, id string) *writer {
	if id != "" {
		w.put("<dt>" + term + `</dt><dd><a href="/jobs/`).part(id).put(`"><code>`).text(id).put("</code></a></dd>")
	}
	return w
}

// csrf writes the hidden field of a form's CSRF token.
func (w *writer) csrf(token string) *writer {
	return w.put(`<input type="hidden" name="csrf" value="`).text(token).put(`">`)
}
