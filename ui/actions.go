package ui

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/wh-gitd/wh-gitd/job"
)

// redeploy runs again the commit a job deployed, as a manual job of the
// same target.
func (h *Handler) redeploy(w http.ResponseWriter, r *http.Request, v visitor) {
	rec, err := h.jobs.Get(r.PathValue("id"))
	if err != nil {
		h.failRead(w, r, err)
		return
	}
	sha := redeployCommit(rec)
	if sha == "" {
		h.refuse(w, r, http.StatusConflict, "This job deployed no commit, so there is none to deploy again.")
		return
	}
	h.start(w, r, v, rec.Repo, rec.Branch, rec.Environment, sha)
}

// deploy runs a manual job of a target at its branch's tip.
func (h *Handler) deploy(w http.ResponseWriter, r *http.Request, v visitor) {
	h.start(w, r, v, r.PostFormValue("entry"), r.PostFormValue("branch"), r.PostFormValue("environment"), "")
}

// start submits a manual job by the visitor and shows its page.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, v visitor, entry, branch, env, sha string) {
	jb, err := h.jobs.Manual(entry, branch, env, sha, v.who)
	var se *job.SelectError
	switch {
	case errors.As(err, &se):
		h.render(w, http.StatusBadRequest, v.frame("Cannot deploy"),
			errorData{Status: http.StatusBadRequest, Message: se.Msg, Hint: se.Hint}.page)
		return
	case err != nil:
		h.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	rc, err := h.jobs.Submit(jb)
	switch {
	case errors.Is(err, job.ErrQueueFull), errors.Is(err, job.ErrClosed):
		w.Header().Set("Retry-After", "30")
		h.refuse(w, r, http.StatusServiceUnavailable, "The job cannot be queued now: "+err.Error()+".")
		return
	case err != nil:
		h.log.Error().Err(err).Str("repo", jb.Repo).Msg("manual job not queued")
		h.refuse(w, r, http.StatusServiceUnavailable, "The job cannot be queued: see the daemon's log.")
		return
	}
	h.log.Info().Str("job", rc.ID).Str("repo", jb.Repo).Str("branch", jb.Branch).
		Str("environment", jb.Environment).Str("sha", jb.SHA).Str("by", v.who).Msg("job started from the page")
	http.Redirect(w, r, "/jobs/"+url.PathEscape(rc.ID), http.StatusSeeOther)
}

// cancel cancels a queued or running job.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, v visitor) {
	id := r.PathValue("id")
	err := h.jobs.Cancel(id)
	switch {
	case errors.Is(err, job.ErrNotFound):
		h.refuse(w, r, http.StatusNotFound, "No such job.")
		return
	case errors.Is(err, job.ErrFinished):
		h.refuse(w, r, http.StatusConflict, "The job has already finished.")
		return
	case err != nil:
		h.refuse(w, r, http.StatusConflict, err.Error())
		return
	}
	h.log.Info().Str("job", id).Str("by", v.who).Msg("job cancelled from the page")
	http.Redirect(w, r, "/jobs/"+url.PathEscape(id), http.StatusSeeOther)
}
