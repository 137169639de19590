package metrics_test

import (
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, w.Body)
	}
	return fams
}

// labels maps the labels of a series.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// Label values with quotes, backslashes and line breaks (a branch may be
// called so) come out escaped, and the text still parses to them.
func TestLabelValuesAreEscaped(t *testing.T) {
	m := metrics.New(metrics.Options{})
	odd := "re\"lease\\x\ny"
	m.JobEnded(job.Record{Job: &job.Job{Repo: "site", Branch: odd, Event: job.EventPush}, State: job.Failed})
	f := scrape(t, m)["wh_gitd_jobs_total"]
	if f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 {
		t.Fatalf("jobs_total: %v", f)
	}
	if got := labels(f.GetMetric()[0])["target"]; got != odd {
		t.Errorf("target %q, want %q", got, odd)
	}
}

// A waiting job that never started (superseded, cancelled) is counted
// and observes no duration; each target's last success is its newest, from
// the history at start or from a job that ended since.
func TestJobsAndLastSuccess(t *testing.T) {
	m := metrics.New(metrics.Options{Load: func() (int, int) { return 3, 1 }, OutboxPending: func() int { return 4 }})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	main := func(id string) *job.Job { return &job.Job{ID: id, Repo: "site", Branch: "main", Event: job.EventPush} }
	m.Seed([]*job.Record{
		{Job: main("b"), State: job.Succeeded, Finished: t0.Add(time.Hour)},
		{Job: main("a"), State: job.Succeeded, Finished: t0},
	})
	m.JobEnded(job.Record{Job: main("c"), State: job.Superseded, Finished: t0})
	m.JobEnded(job.Record{Job: &job.Job{Repo: "site", Environment: "prod", Event: job.EventDeployment,
		Queued: t0}, State: job.Succeeded, Started: t0.Add(2 * time.Second), Finished: t0.Add(time.Minute)})
	m.OutboxPost("github", "2xx")
	fams := scrape(t, m)
	cases := []struct {
		name string
		want float64
		get  func(*dto.Metric) float64
	}{
		{"wh_gitd_jobs_queued", 3, func(x *dto.Metric) float64 { return x.GetGauge().GetValue() }},
		{"wh_gitd_jobs_running", 1, func(x *dto.Metric) float64 { return x.GetGauge().GetValue() }},
		{"wh_gitd_job_queue_wait_seconds", 2, func(x *dto.Metric) float64 { return x.GetHistogram().GetSampleSum() }},
		{"wh_gitd_job_duration_seconds", 58, func(x *dto.Metric) float64 { return x.GetHistogram().GetSampleSum() }},
		{"wh_gitd_outbox_posts_total", 1, func(x *dto.Metric) float64 { return x.GetCounter().GetValue() }},
		{"wh_gitd_outbox_pending", 4, func(x *dto.Metric) float64 { return x.GetGauge().GetValue() }},
	}
	for _, tc := range cases {
		f := fams[tc.name]
		if len(f.GetMetric()) != 1 || tc.get(f.GetMetric()[0]) != tc.want {
			t.Errorf("%s: %v, want one series of %v", tc.name, f, tc.want)
		}
	}
	last := map[string]float64{}
	for _, s := range fams["wh_gitd_last_success_timestamp_seconds"].GetMetric() {
		last[labels(s)["target"]] = s.GetGauge().GetValue()
	}
	if want := float64(t0.Add(time.Hour).Unix()); last["main"] != want || len(last) != 2 {
		t.Errorf("last successes %v, want main at %v and prod", last, want)
	}
}

// BenchmarkDelivery counts one delivery and one superseded job, as each
// accepted delivery of a burst makes.
func BenchmarkDelivery(b *testing.B) {
	m := metrics.New(metrics.Options{})
	rec := job.Record{Job: &job.Job{Repo: "site", Branch: "main", Event: job.EventPush, Queued: time.Now()},
		State: job.Superseded, Finished: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		m.Delivery("site", "github", "queued")
		m.JobEnded(rec)
	}
}
