package ui

import (
	"embed"
	"fmt"
	"net/http"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// files are the page's style sheet and its one script.
//
//go:embed static
var files embed.FS

// assets are the static files, read at the first page served.
type assets struct {
	css    string
	script []byte
}

func loadAssets() *assets {
	a := &assets{css: string(styleSheet())}
	var err error
	if a.script, err = files.ReadFile("static/follow.js"); err != nil {
		panic(err) // embedded: cannot be missing
	}
	return a
}

// styleSheet is the page's style sheet, inlined in every page.
func styleSheet() []byte {
	css, err := files.ReadFile("static/style.css")
	if err != nil {
		panic(err) // embedded: cannot be missing
	}
	return css
}

// view is the page's frame around its content.
type view struct {
	Title string
	// Who is the visitor; empty on the login page.
	Who  string
	CSRF string
	// Follow includes the script that follows a running job's log.
	Follow bool
}

// frame is the frame of a page titled title for visitor v.
func (v visitor) frame(title string) view { return view{Title: title, Who: v.who, CSRF: v.csrf()} }

// render answers status with a page: content inside the layout.
func (h *Handler) render(w http.ResponseWriter, status int, vw view, c content) {
	a := h.assets()
	var p writer
	p.b.Grow(len(a.css) + 16<<10)
	layout(&p, vw, a.css, c)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(p.b.Bytes())
}

// errorData is what the error page says.
type errorData struct {
	Status  int
	Message string
	Hint    string
}

// refuse answers status with msg, as a page.
func (h *Handler) refuse(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	h.render(w, status, view{Title: http.StatusText(status)}, errorData{Status: status, Message: msg}.page)
}

// script serves the script that follows a running job's log.
func (h *Handler) script(w http.ResponseWriter, _ *http.Request, _ visitor) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(h.assets().script)
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
