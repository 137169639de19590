package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/wh-gitd/wh-gitd/job"
)

// pageSize is how many jobs one page of /jobs lists.
const pageSize = 25

// maxInlineLog caps the log a job's page shows; the rest is at
// /jobs/{id}/log.
const maxInlineLog = 1 << 20

type jobsData struct {
	Jobs                []*job.Record
	Entry, State, Event string
	Entries             []string
	States, Events      []string
	// Newer is set on every page but the first; Older links the next page.
	Newer bool
	Older string
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, v visitor) {
	q := r.URL.Query()
	f := job.Filter{Repo: q.Get("entry"), State: job.State(q.Get("state")), Event: q.Get("event"),
		Before: q.Get("before"), Limit: pageSize + 1}
	if f.State != "" && !f.State.Known() {
		h.refuse(w, r, http.StatusBadRequest, "unknown state "+string(f.State))
		return
	}
	recs, err := h.jobs.List(f)
	if err != nil {
		h.log.Error().Err(err).Msg("job history partly unreadable")
	}
	data := jobsData{Entry: f.Repo, State: string(f.State), Event: f.Event, Entries: h.set.Load().RepoNames(),
		States: states(), Events: []string{job.EventPush, job.EventDeployment, job.EventManual, job.EventPoll},
		Newer: f.Before != ""}
	if len(recs) > pageSize {
		recs = recs[:pageSize]
		older := url.Values{"before": {recs[pageSize-1].ID}}
		for k, val := range map[string]string{"entry": f.Repo, "state": string(f.State), "event": f.Event} {
			if val != "" {
				older.Set(k, val)
			}
		}
		data.Older = "/jobs?" + older.Encode()
	}
	data.Jobs = recs
	h.render(w, http.StatusOK, v.frame("Jobs"), data.page)
}

func states() []string {
	return []string{string(job.Queued), string(job.Running), string(job.Succeeded), string(job.Failed),
		string(job.TimedOut), string(job.Cancelled), string(job.Superseded), string(job.Interrupted),
		string(job.Skipped)}
}

type jobData struct {
	Rec *job.Record
	// Link is the job's address at public_url, "" without one.
	Link string
	// Log is the log so far, cleaned of terminal codes; LogBytes is how
	// many bytes of the file it shows (the live log goes on from there).
	Log       string
	LogBytes  int64
	Truncated bool
	// Redeploy is the commit a redeploy would deploy, "" when none is known.
	Redeploy string
}

func (h *Handler) showJob(w http.ResponseWriter, r *http.Request, v visitor) {
	rec, err := h.jobs.Get(r.PathValue("id"))
	if err != nil {
		h.failRead(w, r, err)
		return
	}
	data := jobData{Rec: rec, Link: h.set.Load().JobURL(rec.ID), Redeploy: redeployCommit(rec)}
	var log capBuffer
	err = h.jobs.Follow(r.Context(), rec.ID, &log, false, func() {})
	if err != nil && !errors.Is(err, job.ErrNoLog) {
		h.log.Error().Err(err).Str("job", rec.ID).Msg("job log unreadable")
	}
	var lc logCleaner
	data.Log, data.LogBytes, data.Truncated = lc.clean(log.b, true), log.n, log.n > int64(len(log.b))
	vw := v.frame("Job " + rec.ID)
	vw.Follow = !rec.State.Final()
	h.render(w, http.StatusOK, vw, data.page)
}

// redeployCommit is the commit a redeploy of rec deploys: the one it
// checked out, else the one it named.
func redeployCommit(rec *job.Record) string {
	if c := deployed(rec); c != "" {
		return c
	}
	if job.ValidSHA(rec.SHA) {
		return rec.SHA
	}
	return ""
}

// failRead answers a job that could not be read: 404 when there is none.
func (h *Handler) failRead(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, job.ErrNotFound) {
		h.refuse(w, r, http.StatusNotFound, "No such job.")
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	h.log.Error().Err(err).Msg("job history unreadable")
	h.refuse(w, r, http.StatusInternalServerError, "The job's record cannot be read: see the daemon's log.")
}

// capBuffer keeps the first maxInlineLog bytes written and counts all.
type capBuffer struct {
	b []byte
	n int64
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := maxInlineLog - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	c.n += int64(len(p))
	return len(p), nil
}
