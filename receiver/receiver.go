// Package receiver owns the HTTP surface of wh-gitd: the webhook endpoints
// POST /hooks/{name}, verification of each provider's signature over the raw
// body, normalisation of a delivery into one provider-free job, and the
// answers of DESIGN.md's table. It never touches git and never runs commands:
// it hands jobs to a Submitter.
package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Jobs is the receiver's job source: where jobs are submitted and read
// back; *runner.Runner is the real one.
type Jobs = job.Service

// Options configure a Handler.
type Options struct {
	Settings *settings.Settings
	Jobs     Jobs
	Logger   zerolog.Logger
	// Page, when set, serves every path the receiver does not (the
	// status page) while api.token is set; otherwise they answer 404.
	Page http.Handler
	// Observer, if set, is told the outcome of every delivery.
	Observer Observer
	// Metrics, if set, serves GET /metrics, behind the metrics: settings.
	Metrics http.Handler
}

// Handler serves the webhook endpoints.
type Handler struct {
	set  atomic.Pointer[settings.Settings]
	jobs Jobs
	log  zerolog.Logger
	mux  *http.ServeMux
	// observer and metrics are Options.Observer and Options.Metrics.
	observer Observer
	metrics  http.Handler
	// refusals rate-limits the log lines of unauthenticated refusals.
	refusals *refusalLog
}

// New makes a Handler.
func New(o Options) *Handler {
	h := &Handler{jobs: o.Jobs, log: o.Logger, mux: http.NewServeMux(), refusals: newRefusalLog(o.Logger),
		observer: o.Observer, metrics: o.Metrics}
	h.set.Store(o.Settings)
	h.mux.HandleFunc("/hooks/{name}", h.observeHook)
	h.mux.HandleFunc("GET /metrics", h.serveMetrics)
	h.routeAPI()
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, http.StatusOK, job.Answer{Status: job.StatusOK})
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if o.Page != nil && h.set.Load().API.Token != "" {
			o.Page.ServeHTTP(w, r)
			return
		}
		fail(w, http.StatusNotFound, "no such endpoint")
	})
	return h
}

// SetSettings makes s the settings of every request from now on.
func (h *Handler) SetSettings(s *settings.Settings) { h.set.Store(s) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// NewServer wraps handler in an http.Server with every timeout set and a
// small header cap, so that slow or oversized clients cannot hold the daemon.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// serveHook is read → verify → decode → match → enqueue.
func (h *Handler) serveHook(w http.ResponseWriter, r *http.Request) {
	set := h.set.Load()
	repo, log, ok := h.admit(w, r, set)
	if !ok {
		return
	}
	body, status, msg := readBody(w, r, set.MaxBodyBytes)
	if status != 0 {
		h.refuse(w, log, repo.Name, status, msg, msg)
		return
	}
	if reason, ok := verify(repo.Dialect(), repo.Secret, r.Header, body); !ok {
		h.refuse(w, log, repo.Name, http.StatusUnauthorized, errUnauthorized.Error(), "signature: "+reason)
		return
	}
	ev, err := decode(repo.Dialect(), r.Header, body)
	if err != nil {
		log.Warn().Err(err).Msg("delivery refused: malformed payload")
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	log.str("delivery", ev.delivery)
	if ev.repository != "" && !strings.EqualFold(ev.repository, repo.Repository) {
		log.Warn().Str("repository", ev.repository).Msg("delivery refused: another repository")
		fail(w, http.StatusForbidden, "delivery is for another repository than this endpoint's")
		return
	}
	jb, reason := match(repo, ev)
	if jb == nil {
		log.Info().Str("reason", reason).Msg("delivery ignored")
		answer(w, http.StatusOK, job.Answer{Status: job.StatusIgnored, Reason: reason})
		return
	}
	if msg := tooOld(repo, ev, time.Now()); msg != "" {
		log.Warn().Time("sent", ev.sent).Msg("delivery refused: " + msg)
		fail(w, http.StatusForbidden, msg)
		return
	}
	jb.Payload = body
	h.enqueue(w, log, jb)
}

// tooOld says why a delivery that would run a job is refused under the
// entry's max_delivery_age, or "" when it is not: a replayed delivery
// keeps the time of the push it was captured from, and the time is inside
// the signed body.
func tooOld(repo *settings.Repo, ev event, now time.Time) string {
	switch {
	case repo.MaxDeliveryAge <= 0:
		return ""
	case ev.sent.IsZero():
		return "delivery carries no time of the push, and max_delivery_age needs one"
	case now.Sub(ev.sent) > repo.MaxDeliveryAge:
		return fmt.Sprintf("delivery is about a push of %s, older than max_delivery_age (%s)",
			ev.sent.UTC().Format(time.RFC3339), repo.MaxDeliveryAge)
	}
	return ""
}

// readBody reads the body once under the cap (admit checked its content
// type and declared length). A non-zero status means the request is
// refused with that status and message.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, string) {
	body, err := readChunks(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, http.StatusRequestEntityTooLarge, "body is larger than the limit"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, http.StatusRequestTimeout, "body not received within the read timeout"
	case err != nil:
		return nil, http.StatusBadRequest, "read body: " + err.Error()
	}
	return body, 0, ""
}

func (h *Handler) enqueue(w http.ResponseWriter, log *deliveryLog, jb *job.Job) {
	rc, err := h.jobs.Submit(jb)
	switch {
	case errors.Is(err, job.ErrQueueFull), errors.Is(err, job.ErrClosed):
		log.Warn().Err(err).Msg("delivery refused: cannot queue")
		w.Header().Set("Retry-After", "30")
		fail(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		log.Error().Err(err).Msg("delivery refused: cannot queue")
		w.Header().Set("Retry-After", "30")
		fail(w, http.StatusServiceUnavailable, "cannot queue the job")
	case rc.Duplicate:
		answer(w, http.StatusOK, job.Answer{Status: job.StatusDuplicate, Job: rc.ID})
	default:
		answer(w, http.StatusAccepted, job.Answer{Status: job.StatusQueued, Job: rc.ID, Supersedes: rc.Supersedes,
			RetryOf: rc.RetryOf})
	}
}

func answer(w http.ResponseWriter, status int, v any) {
	noteAnswer(w, v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	answer(w, status, job.Answer{Status: job.StatusError, Error: msg})
}
