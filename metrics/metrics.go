// Package metrics keeps wh-gitd's Prometheus metrics and serves them in the
// text format: the deliveries by outcome, the jobs by result, how long jobs,
// their wait and their syncs took, the jobs waiting and running, each
// target's last success, the outbox's posts, and the Go runtime's and the
// process's own. It implements the observers that receiver and runner
// declare; they never see it. Every label value comes from the settings or
// from a fixed list (never a SHA, a job id or a delivery id), so the series
// stay bounded. It does not decide who may read them (receiver does).
package metrics

import (
	"net/http"
	"strings"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/wh-gitd/wh-gitd/job"
)

// Histogram buckets, in seconds.
var (
	jobBuckets  = []float64{1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	waitBuckets = []float64{0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}
	syncBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// Options configure Metrics.
type Options struct {
	// Load returns how many jobs wait and run now; nil leaves the two
	// gauges out.
	Load func() (queued, running int)
	// OutboxPending returns how many messages wait in the outbox to be
	// sent; nil leaves wh_gitd_outbox_pending out.
	OutboxPending func() int
}

// Metrics holds the daemon's metrics. Its methods are safe for concurrent
// use and return at once.
type Metrics struct {
	set     *vm.Set
	started time.Time
}

// New makes Metrics.
func New(o Options) *Metrics {
	// The library writes # HELP and # TYPE lines only when told to, and
	// the setting is the library's own: scrapers want the types.
	vm.ExposeMetadata(true)
	m := &Metrics{set: vm.NewSet(), started: time.Now()}
	if o.Load != nil {
		m.set.NewGauge("wh_gitd_jobs_queued", func() float64 { q, _ := o.Load(); return float64(q) })
		m.set.NewGauge("wh_gitd_jobs_running", func() float64 { _, r := o.Load(); return float64(r) })
	}
	if o.OutboxPending != nil {
		m.set.NewGauge("wh_gitd_outbox_pending", func() float64 { return float64(o.OutboxPending()) })
	}
	return m
}

// Delivery counts one answer of the webhook endpoint (receiver.Observer).
func (m *Metrics) Delivery(repo, provider, outcome string) {
	m.set.GetOrCreateCounter(series("wh_gitd_deliveries_total", "repo", repo, "provider", provider,
		"outcome", outcome)).Inc()
}

// JobEnded counts a job that ended and observes how long it waited and
// ran (runner.Options.OnDone); a success sets its target's last success.
func (m *Metrics) JobEnded(rec job.Record) {
	if rec.Job == nil {
		return
	}
	repo, target := rec.Repo, targetOf(rec.Job)
	m.set.GetOrCreateCounter(series("wh_gitd_jobs_total", "repo", repo, "target", target,
		"event", rec.Event, "result", string(rec.State))).Inc()
	if !rec.Started.IsZero() {
		if !rec.Queued.IsZero() {
			m.set.GetOrCreatePrometheusHistogramExt("wh_gitd_job_queue_wait_seconds", waitBuckets).
				Update(seconds(rec.Started.Sub(rec.Queued)))
		}
		if !rec.Finished.IsZero() {
			m.set.GetOrCreatePrometheusHistogramExt(series("wh_gitd_job_duration_seconds", "repo", repo,
				"target", target), jobBuckets).Update(seconds(rec.Finished.Sub(rec.Started)))
		}
	}
	if rec.State == job.Succeeded {
		m.lastSuccess(repo, target, rec.Finished)
	}
}

// Synced observes one sync of a working copy (runner.Options.OnSync).
func (m *Metrics) Synced(repo string, took time.Duration) {
	m.set.GetOrCreatePrometheusHistogramExt(series("wh_gitd_sync_duration_seconds", "repo", repo),
		syncBuckets).Update(seconds(took))
}

// OutboxPost counts one post of the outbox to a forge (github, gitlab,
// gitea, ...) by the class of its answer (2xx, 4xx, 5xx, rate_limited,
// error, ...): both from fixed lists, never from a payload.
func (m *Metrics) OutboxPost(forge, class string) {
	m.set.GetOrCreateCounter(series("wh_gitd_outbox_posts_total", "forge", forge, "class", class)).Inc()
}

// Seed sets each target's last success from the job history, newest
// first, so that the gauge survives a restart.
func (m *Metrics) Seed(recs []*job.Record) {
	seen := map[string]bool{}
	for _, rec := range recs {
		if rec == nil || rec.Job == nil || rec.State != job.Succeeded {
			continue
		}
		key := rec.Job.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		m.lastSuccess(rec.Repo, targetOf(rec.Job), rec.Finished)
	}
}

func (m *Metrics) lastSuccess(repo, target string, at time.Time) {
	g := m.set.GetOrCreateGauge(series("wh_gitd_last_success_timestamp_seconds", "repo", repo, "target", target), nil)
	if ts := float64(at.UnixNano()) / 1e9; ts > g.Get() {
		g.Set(ts)
	}
}

// ServeHTTP writes every metric in the Prometheus text format, then the Go
// runtime's (go_*) and the process's (process_*).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.set.WritePrometheus(w)
	writeGo(w)
	writeProcess(w, m.started)
}

// targetOf is the job's branch or environment name.
func targetOf(jb *job.Job) string {
	if jb.Environment != "" {
		return jb.Environment
	}
	return jb.Branch
}

func seconds(d time.Duration) float64 { return max(d.Seconds(), 0) }

// series is a metric name with its labels, each value escaped as the text
// format wants.
func series(name string, labels ...string) string {
	var b strings.Builder
	b.WriteString(name)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(labels[i+1]))
		b.WriteByte('"')
	}
	if len(labels) > 1 {
		b.WriteByte('}')
	}
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
