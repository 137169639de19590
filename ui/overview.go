package ui

import (
	"cmp"
	"maps"
	"net/http"
	"slices"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// overviewScan is how many of an entry's newest jobs the overview reads
// (history.keep is 100 by default).
const overviewScan = 500

// row is one target of the overview: an entry's branch or environment.
type row struct {
	Repo, Kind, Name string
	// Last is the newest job that ended (a superseded one never ran).
	Last *job.Record
	// Deployed is the newest job that checked out a commit: what the
	// working copy holds.
	Deployed *job.Record
	// Active are the jobs running or waiting, newest first.
	Active []*job.Record
	// Tip is true when the target has a branch whose tip can be deployed.
	Tip bool
}

// Failing reports whether the target's last job did not succeed.
func (r row) Failing() bool { return r.Last != nil && failing(r.Last.State) }

// Branch and Environment are the form fields that name the target.
func (r row) Branch() string {
	if r.Kind == "branch" {
		return r.Name
	}
	return ""
}

// Environment names the target when it is an environment.
func (r row) Environment() string {
	if r.Kind == "environment" {
		return r.Name
	}
	return ""
}

type overviewData struct {
	Rows    []row
	Failing int
	// Unread says that some records could not be read.
	Unread bool
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, v visitor) {
	set := h.set.Load()
	var data overviewData
	for _, name := range set.RepoNames() {
		recs, err := h.jobs.List(job.Filter{Repo: name, Limit: overviewScan})
		if err != nil {
			h.log.Error().Err(err).Str("repo", name).Msg("job history partly unreadable")
			data.Unread = true
		}
		data.Rows = append(data.Rows, rowsOf(set.Repos[name], recs)...)
	}
	for _, rw := range data.Rows {
		if rw.Failing() {
			data.Failing++
		}
	}
	h.render(w, http.StatusOK, v.frame("Overview"), data.page)
}

// rowsOf makes the rows of entry repo's targets from its records, newest
// first.
func rowsOf(repo *settings.Repo, recs []*job.Record) []row {
	var rows []row
	for _, kind := range []string{"branch", "environment"} {
		targets := repo.Branches
		if kind == "environment" {
			targets = repo.Environments
		}
		for _, name := range slices.Sorted(maps.Keys(targets)) {
			rw := row{Repo: repo.Name, Kind: kind, Name: name, Tip: kind == "branch"}
			if t := targets[name]; kind == "environment" && t != nil {
				rw.Tip = t.Branch != ""
			}
			fill(&rw, recs)
			rows = append(rows, rw)
		}
	}
	return rows
}

// fill finds the row's jobs among recs, newest first.
func fill(rw *row, recs []*job.Record) {
	key := (&job.Job{Repo: rw.Repo, Branch: rw.Branch(), Environment: rw.Environment()}).Key()
	for _, rec := range recs {
		if rec.Job.Key() != key {
			continue
		}
		switch {
		case !rec.State.Final():
			rw.Active = append(rw.Active, rec)
		case rw.Last == nil && rec.State != job.Superseded:
			rw.Last = rec
		}
		if rw.Deployed == nil && deployed(rec) != "" {
			rw.Deployed = rec
		}
	}
}

// deployed is the commit a job checked out, "" if none.
func deployed(rec *job.Record) string { return cmp.Or(rec.Deployed, rec.Sync.Commit) }
