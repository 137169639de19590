package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// files are the page's templates, its style sheet and its one script.
//
//go:embed templates static
var files embed.FS

// pages are the parsed templates and the static files.
type pages struct {
	byName map[string]*template.Template
	css    string
	script []byte
}

func loadPages() *pages {
	p := &pages{byName: make(map[string]*template.Template)}
	// Each page is a template under templates/ rendered inside layout.html.
	for _, name := range []string{"login", "overview", "jobs", "job", "error"} {
		p.byName[name] = template.Must(template.New("layout.html").Funcs(templateFuncs()).
			ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	p.css = string(styleSheet())
	var err error
	if p.script, err = files.ReadFile("static/follow.js"); err != nil {
		panic(err) // embedded: cannot be missing
	}
	return p
}

// styleSheet is the page's style sheet, inlined in every page.
func styleSheet() []byte {
	css, err := files.ReadFile("static/style.css")
	if err != nil {
		panic(err) // embedded: cannot be missing
	}
	return css
}

// view is what layout.html renders: the page's frame and its content.
type view struct {
	Title string
	CSS   template.CSS
	// Who is the visitor; empty on the login page.
	Who  string
	CSRF string
	// Follow includes the script that follows a running job's log.
	Follow bool
	Data   any
}

// render writes the page name with data, inside the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v visitor, title string, data any) {
	h.renderView(w, r, status, name, view{Title: title, Who: v.who, CSRF: v.csrf(), Data: data})
}

func (h *Handler) renderView(w http.ResponseWriter, r *http.Request, status int, name string, vw view) {
	p := h.pages()
	vw.CSS = template.CSS(p.css)
	var b bytes.Buffer
	if err := p.byName[name].Execute(&b, vw); err != nil {
		h.log.Error().Err(err).Str("page", name).Str("path", r.URL.Path).Msg("page does not render")
		http.Error(w, "the page cannot be shown: see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// errorData is what the error page says.
type errorData struct {
	Status  int
	Message string
	Hint    string
}

// refuse answers status with msg, as a page.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.renderView(w, r, status, "error", view{Title: http.StatusText(status),
		Data: errorData{Status: status, Message: msg}})
}

// script serves the script that follows a running job's log.
func (h *Handler) script(w http.ResponseWriter, _ *http.Request, _ visitor) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(h.pages().script)
}

// templateFuncs are the templates' helpers.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"short":      short,
		"when":       when,
		"took":       took,
		"duration":   duration,
		"target":     target,
		"failing":    failing,
		"final":      func(s job.State) bool { return s.Final() },
		"deployed":   deployed,
		"statusText": http.StatusText,
	}
}

// short is a commit's first 7 hex digits.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// when is a time as the page shows it, in UTC.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// took is how long a job ran, "" when it has not run or not ended.
func took(rec *job.Record) string {
	if rec.Started.IsZero() || rec.Finished.IsZero() {
		return ""
	}
	return duration(rec.Finished.Sub(rec.Started))
}

// duration is d rounded for people: 850ms, 12.3s, 4m05s.
func duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(time.Minute).String()
}

// target names the branch or environment of a job.
func target(rec *job.Record) string {
	if rec.Environment != "" {
		return "environment " + rec.Environment
	}
	return "branch " + rec.Branch
}

// failing reports whether a job ended without succeeding, so that it
// stands out.
func failing(s job.State) bool {
	switch s {
	case job.Failed, job.TimedOut, job.Interrupted:
		return true
	}
	return false
}
