package receiver

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// The job API: the same routes on the HTTP listener, behind a bearer token
// (api.token; without one they answer 404), and on the control socket,
// where the socket file's mode decides who may connect (see Control).

// apiRoute is one endpoint of the job API.
type apiRoute struct {
	pattern string
	serve   http.HandlerFunc
}

func (h *Handler) apiRoutes() []apiRoute {
	return []apiRoute{
		{"GET /api/jobs", h.listJobs},
		{"GET /api/jobs/{id}", h.getJob},
		{"GET /api/jobs/{id}/log", h.jobLog},
		{"POST /api/jobs/{id}/cancel", h.cancelJob},
		{"POST /api/repos/{name}/trigger", h.trigger},
		{"/api/", func(w http.ResponseWriter, _ *http.Request) {
			fail(w, http.StatusNotFound, "no such API endpoint")
		}},
	}
}

// routeAPI serves the job API on the HTTP listener, behind the token.
func (h *Handler) routeAPI() {
	for _, rt := range h.apiRoutes() {
		h.mux.HandleFunc(rt.pattern, h.api(rt.serve))
	}
}

// api wraps an API handler with the token check.
func (h *Handler) api(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := h.set.Load().API.Token
		if token == "" {
			fail(w, http.StatusNotFound, "the job API is off: set api.token in the settings")
			return
		}
		if !bearer(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wh-gitd"`)
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	}
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := job.Filter{Repo: q.Get("repo"), State: job.State(q.Get("state")), Limit: 50}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fail(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		f.Limit = n
	}
	if f.State != "" && !f.State.Known() {
		fail(w, http.StatusBadRequest, "unknown state "+strconv.Quote(string(f.State)))
		return
	}
	jobs, err := h.jobs.List(f)
	if err != nil {
		h.log.Error().Err(err).Msg("job history partly unreadable")
	}
	if jobs == nil {
		jobs = []*job.Record{}
	}
	answer(w, http.StatusOK, job.JobsAnswer{Status: job.StatusOK, Jobs: jobs})
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	rec, err := h.jobs.Get(r.PathValue("id"))
	if err != nil {
		h.failRead(w, err)
		return
	}
	answer(w, http.StatusOK, job.JobAnswer{Status: job.StatusOK, Job: rec})
}

func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := h.jobs.Cancel(id)
	switch {
	case errors.Is(err, job.ErrNotFound):
		fail(w, http.StatusNotFound, "no such job")
	case errors.Is(err, job.ErrFinished):
		fail(w, http.StatusConflict, "job has already finished")
	case err != nil:
		fail(w, http.StatusConflict, err.Error())
	default:
		h.log.Info().Str("job", id).Msg("job cancelled through the API")
		answer(w, http.StatusOK, job.Answer{Status: job.StatusCancelled, Job: id})
	}
}

func (h *Handler) trigger(w http.ResponseWriter, r *http.Request) {
	var req job.TriggerRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			fail(w, http.StatusBadRequest, "decode body: "+err.Error())
			return
		}
	}
	q := r.URL.Query()
	req.Branch = cmp.Or(req.Branch, q.Get("branch"))
	req.Environment = cmp.Or(req.Environment, q.Get("environment"))
	req.SHA = cmp.Or(req.SHA, q.Get("sha"))
	req.By = cmp.Or(req.By, q.Get("by"), "api")
	if req.Branch != "" && req.Environment != "" {
		fail(w, http.StatusBadRequest, "name a branch or an environment, not both")
		return
	}
	if req.SHA != "" && !job.ValidSHA(req.SHA) {
		fail(w, http.StatusBadRequest, "sha must be a full lowercase SHA-1 (40 hex digits)")
		return
	}
	if msg := req.PushProblem(); msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	jb, err := h.jobs.Manual(r.PathValue("name"), req.Branch, req.Environment, req.SHA, req.By)
	if err != nil {
		refuseTrigger(w, err)
		return
	}
	if req.Push {
		jb.Event = job.EventPush
	}
	log := newDeliveryLog(h.log)
	log.str("repo", jb.Repo)
	h.enqueue(w, log, jb)
}

// refuseTrigger answers a trigger that names no configured target: 404 for
// an unknown entry, else 400, with what could be named instead.
func refuseTrigger(w http.ResponseWriter, err error) {
	var se *job.SelectError
	if !errors.As(err, &se) {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	status := http.StatusBadRequest
	if se.NoEntry {
		status = http.StatusNotFound
	}
	answer(w, status, job.Answer{Status: job.StatusError, Error: se.Msg, Hint: se.Hint})
}

// jobLog sends the job's log; with follow=1 it goes on sending what is
// written until the job has ended.
func (h *Handler) jobLog(w http.ResponseWriter, r *http.Request) {
	follow := r.URL.Query().Get("follow") == "1"
	rc := http.NewResponseController(w)
	if follow {
		_ = rc.SetWriteDeadline(time.Time{}) // a followed log lasts as long as the job
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	err := h.jobs.Follow(r.Context(), r.PathValue("id"), w, follow, func() { _ = rc.Flush() })
	switch {
	case errors.Is(err, job.ErrNoLog):
		fail(w, http.StatusNotFound, "the job has no log")
	case err != nil:
		h.failRead(w, err) // nothing was sent yet, or the client went away
	}
}

// failRead answers a job that could not be read: 404 when there is none.
func (h *Handler) failRead(w http.ResponseWriter, err error) {
	if errors.Is(err, job.ErrNotFound) {
		fail(w, http.StatusNotFound, "no such job")
		return
	}
	h.log.Error().Err(err).Msg("job history unreadable")
	fail(w, http.StatusInternalServerError, "the job's record cannot be read")
}
