// Package ui owns the status page on the daemon's HTTP listener: the
// overview of every configured target (/), the job history (/jobs), a
// job's record and log (/jobs/{id}, its log following live while the job
// runs), the actions redeploy, deploy and cancel, and the login that guards
// all of it. It is rendered on the server by plain Go functions over a
// writer that escapes every value for where it goes in the page, and
// needs no JavaScript but for the live log. It reads and starts jobs
// through the Jobs interface it declares; it never touches the job store,
// git or commands itself. The page is off (404) unless api.token is set.
package ui

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Jobs is where the page reads jobs and starts or cancels them;
// *runner.Runner is the real one.
type Jobs = job.Service

// Options configure a Handler.
type Options struct {
	Settings *settings.Settings
	Jobs     Jobs
	Logger   zerolog.Logger
}

// Handler serves the status page.
type Handler struct {
	set  atomic.Pointer[settings.Settings]
	jobs Jobs
	log  zerolog.Logger
	mux  *http.ServeMux
	// assets are read at the first page served, so that a daemon whose
	// page is off holds no copy of them.
	assets   func() *assets
	sessions *sessions
	logins   *limiter
	// csp is the Content-Security-Policy of every answer.
	csp string
}

// New makes a Handler.
func New(o Options) *Handler {
	h := &Handler{jobs: o.Jobs, log: o.Logger, mux: http.NewServeMux(), assets: sync.OnceValue(loadAssets),
		sessions: newSessions(maxSessions), logins: newLimiter(loginFailures, loginWindow)}
	h.set.Store(o.Settings)
	sum := sha256.Sum256(styleSheet())
	h.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'"
	h.routes()
	return h
}

// SetSettings makes s the settings of every request from now on. Sessions
// made with a token or password that s no longer holds end.
func (h *Handler) SetSettings(s *settings.Settings) { h.set.Store(s) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if h.set.Load().API.Token == "" {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET /login", h.loginForm)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.guard(h.logout))
	h.mux.HandleFunc("GET /{$}", h.guard(h.overview))
	h.mux.HandleFunc("GET /jobs", h.guard(h.listJobs))
	h.mux.HandleFunc("GET /jobs/{id}", h.guard(h.showJob))
	h.mux.HandleFunc("GET /jobs/{id}/log", h.guard(h.rawLog))
	h.mux.HandleFunc("GET /jobs/{id}/events", h.guard(h.logEvents))
	h.mux.HandleFunc("GET /assets/follow.js", h.guard(h.script))
	h.mux.HandleFunc("POST /jobs/{id}/redeploy", h.guard(h.redeploy))
	h.mux.HandleFunc("POST /jobs/{id}/cancel", h.guard(h.cancel))
	h.mux.HandleFunc("POST /deploy", h.guard(h.deploy))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
}
