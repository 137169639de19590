package receiver

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wh-gitd/wh-gitd/runner"
)

// The local job API, on the same listener as the webhooks, behind a bearer
// token (api.token). Without a token it is off: every /api/ path answers 404.
func (h *Handler) routeAPI() {
	h.mux.HandleFunc("GET /api/jobs", h.api(h.listJobs))
	h.mux.HandleFunc("GET /api/jobs/{id}", h.api(h.getJob))
	h.mux.HandleFunc("GET /api/jobs/{id}/log", h.api(h.jobLog))
	h.mux.HandleFunc("POST /api/jobs/{id}/cancel", h.api(h.cancelJob))
	h.mux.HandleFunc("POST /api/repos/{name}/trigger", h.api(h.trigger))
	h.mux.HandleFunc("/api/", h.api(func(w http.ResponseWriter, _ *http.Request) {
		fail(w, http.StatusNotFound, "no such API endpoint")
	}))
}

// followPoll is how often a followed log is read for new output.
const followPoll = 100 * time.Millisecond

// api wraps an API handler with the token check.
func (h *Handler) api(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := h.set.Load().API.Token
		if token == "" {
			fail(w, http.StatusNotFound, "the job API is off: set api.token in the settings")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wh-gitd"`)
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	}
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := runner.Filter{Repo: q.Get("repo"), State: runner.State(q.Get("state")), Limit: 50}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fail(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		f.Limit = n
	}
	if f.State != "" && !validState(f.State) {
		fail(w, http.StatusBadRequest, "unknown state "+strconv.Quote(string(f.State)))
		return
	}
	jobs := h.jobs.List(f)
	if jobs == nil {
		jobs = []*runner.Record{}
	}
	answer(w, http.StatusOK, map[string]any{"status": "ok", "jobs": jobs})
}

func validState(s runner.State) bool {
	switch s {
	case runner.Queued, runner.Running, runner.Succeeded, runner.Failed, runner.TimedOut,
		runner.Cancelled, runner.Superseded, runner.Interrupted:
		return true
	}
	return false
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.jobs.Get(r.PathValue("id"))
	if !ok {
		fail(w, http.StatusNotFound, "no such job")
		return
	}
	answer(w, http.StatusOK, map[string]any{"status": "ok", "job": rec})
}

func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := h.jobs.Cancel(id)
	switch {
	case errors.Is(err, runner.ErrNotFound):
		fail(w, http.StatusNotFound, "no such job")
	case errors.Is(err, runner.ErrFinished):
		fail(w, http.StatusConflict, "job has already finished")
	case err != nil:
		fail(w, http.StatusConflict, err.Error())
	default:
		h.log.Info().Str("job", id).Msg("job cancelled through the API")
		answer(w, http.StatusOK, map[string]any{"status": "cancelled", "job": id})
	}
}

// triggerRequest is the optional JSON body of a trigger; query parameters of
// the same names work too.
type triggerRequest struct {
	Branch      string `json:"branch"`
	Environment string `json:"environment"`
	SHA         string `json:"sha"`
}

func (h *Handler) trigger(w http.ResponseWriter, r *http.Request) {
	var req triggerRequest
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
	if req.SHA != "" && !shaRE.MatchString(req.SHA) {
		fail(w, http.StatusBadRequest, "sha must be a full lowercase commit id")
		return
	}
	job, err := runner.ManualJob(h.set.Load(), r.PathValue("name"), req.Branch, req.Environment, req.SHA, "api")
	var se *runner.SelectError
	if errors.As(err, &se) {
		status := http.StatusBadRequest
		if se.NoEntry {
			status = http.StatusNotFound
		}
		answer(w, status, map[string]any{"status": "error", "error": se.Msg, "hint": se.Hint})
		return
	}
	h.enqueue(w, h.log.With().Str("repo", job.Repo).Logger(), job)
}

// jobLog sends the job's log; with follow=1 it goes on sending what is
// written until the job has ended.
func (h *Handler) jobLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, ok := h.jobs.Get(id)
	if !ok {
		fail(w, http.StatusNotFound, "no such job")
		return
	}
	follow := r.URL.Query().Get("follow") == "1"
	f, err := os.Open(h.jobs.LogPath(id))
	if err != nil && !(follow && !rec.State.Final()) {
		fail(w, http.StatusNotFound, "the job has no log")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !follow {
		defer f.Close()
		_, _ = io.Copy(w, f)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a followed log lasts as long as the job
	h.follow(w, rc, r, id, f)
}

func (h *Handler) follow(w io.Writer, rc *http.ResponseController, r *http.Request, id string, f *os.File) {
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		// Read the job's state before the file, so that what a finished job
		// wrote is all sent before the stream ends.
		rec, ok := h.jobs.Get(id)
		ended := !ok || rec.State.Final()
		if f == nil {
			f, _ = os.Open(h.jobs.LogPath(id))
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return
			}
			_ = rc.Flush()
		}
		if ended {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
