package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

const metricsToken = "metrics-test-token-0123"

// scrape reads /metrics of d with token and parses it with the Prometheus
// text parser, so that the format is checked, not only the numbers.
func (d *daemon) scrape(t *testing.T, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+d.addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return resp.StatusCode, fams
}

// value is the value of the series of family name whose labels are
// exactly labels (name=value pairs); found is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, found bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !sameLabels(m.GetLabel(), labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func sameLabels(got []*dto.LabelPair, want []string) bool {
	if len(got)*2 != len(want) {
		return false
	}
	have := map[string]string{}
	for _, l := range got {
		have[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(want); i += 2 {
		if v, ok := have[want[i]]; !ok || v != want[i+1] {
			return false
		}
	}
	return true
}

// After a scripted set of deliveries and jobs, /metrics counts each
// answer and each job exactly, and never makes a label of a stranger's
// endpoint name, a SHA, a job id or a delivery id.
func TestMetricsCountDeliveriesAndJobs(t *testing.T) {
	dir := t.TempDir()
	up, a := upstream(t, "main")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	d := startDaemon(t, siteFile(up.Path(), "api: {token: "+token+"}\nmetrics: {token: "+metricsToken+"}",
		testkit.Target{}, testkit.Target{Name: "dev", Commands: []string{"false"}}).Write(t, dir))
	if code, _ := d.scrape(t, ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	dup := pushOf(t, "site", "main", a)
	dup.ID = "delivery-0123456789"
	for _, tc := range scriptedDeliveries(t, dup, b) {
		ans, err := d.send(tc.dl)
		if err != nil {
			t.Fatal(err)
		}
		if ans.Code != tc.code {
			t.Fatalf("%s: %d %v, want %d", tc.name, ans.Code, ans.Body, tc.code)
		}
		if tc.name == "queued main" {
			waitState(t, d, ans.Str("job"), job.Succeeded)
		}
		if tc.name == "queued dev" {
			waitState(t, d, ans.Str("job"), job.Failed)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/hooks/site", nil)
	if ans := testkit.MustDo(t, req); ans.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /hooks/site: %d", ans.Code)
	}
	code, fams := d.scrape(t, metricsToken)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	checkCounts(t, fams, a, b)
}

type scripted struct {
	name string
	dl   testkit.Delivery
	code int
}

// scriptedDeliveries are one delivery of each kind the metrics count.
func scriptedDeliveries(t *testing.T, dup testkit.Delivery, b string) []scripted {
	wrongSecret := pushOf(t, "site", "main", b)
	wrongSecret.Secret = "not-the-secret-0123456789"
	text := pushOf(t, "site", "main", b)
	text.Header = http.Header{"Content-Type": {"text/plain"}}
	malformed := pushOf(t, "site", "main", b)
	malformed.Body = []byte(`{"ref": 7`)
	other := pushOf(t, "site", "main", b)
	other.Body = bytes.ReplaceAll(other.Body, []byte("acme/site"), []byte("acme/other"))
	stranger := pushOf(t, "nope", "main", b)
	return []scripted{
		{"queued main", dup, http.StatusAccepted},
		{"duplicate", dup, http.StatusOK},
		{"ignored", pushOf(t, "site", "feature", b), http.StatusOK},
		{"unauthorized", wrongSecret, http.StatusUnauthorized},
		{"unsupported media type", text, http.StatusUnsupportedMediaType},
		{"bad request", malformed, http.StatusBadRequest},
		{"forbidden", other, http.StatusForbidden},
		{"not found", stranger, http.StatusNotFound},
		{"queued dev", pushOf(t, "site", "dev", b), http.StatusAccepted},
	}
}

// waitState waits until job id of d is in state want.
func waitState(t *testing.T, d *daemon, id string, want job.State) {
	t.Helper()
	testkit.Eventually(t, "job "+id+" "+string(want), 60*time.Second, func() bool {
		return d.record(t, id).State == want
	})
}

func checkCounts(t *testing.T, fams map[string]*dto.MetricFamily, shas ...string) {
	t.Helper()
	site := []string{"outcome", "", "provider", "github", "repo", "site"}
	want := map[string]float64{"queued": 2, "duplicate": 1, "ignored": 1, "unauthorized": 1,
		"unsupported_media_type": 1, "bad_request": 1, "forbidden": 1, "method_not_allowed": 1}
	for outcome, n := range want {
		site[1] = outcome
		if v, _ := value(fams, "wh_gitd_deliveries_total", site...); v != n {
			t.Errorf("deliveries %s: %v, want %v", outcome, v, n)
		}
	}
	total := 0.0
	for _, m := range fams["wh_gitd_deliveries_total"].GetMetric() {
		total += m.Counter.GetValue()
	}
	if total != 10 {
		t.Errorf("deliveries in all: %v, want 10", total)
	}
	if v, _ := value(fams, "wh_gitd_deliveries_total", "outcome", "not_found", "provider", "", "repo", ""); v != 1 {
		t.Errorf("deliveries to an unknown endpoint: %v, want 1 with empty repo and provider", v)
	}
	checkJobCounts(t, fams)
	var text strings.Builder
	for _, f := range fams {
		_, _ = expfmt.MetricFamilyToText(&text, f)
	}
	for _, secret := range append(shas, "nope", "delivery-0123456789", testkit.Secret, token, metricsToken) {
		if strings.Contains(text.String(), secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
}

func checkJobCounts(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	cases := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wh_gitd_jobs_total", []string{"event", "push", "repo", "site", "result", "succeeded", "target", "main"}, 1},
		{"wh_gitd_jobs_total", []string{"event", "push", "repo", "site", "result", "failed", "target", "dev"}, 1},
		{"wh_gitd_job_duration_seconds", []string{"repo", "site", "target", "main"}, 1},
		{"wh_gitd_job_duration_seconds", []string{"repo", "site", "target", "dev"}, 1},
		{"wh_gitd_job_queue_wait_seconds", nil, 2},
		{"wh_gitd_sync_duration_seconds", []string{"repo", "site"}, 2},
		{"wh_gitd_jobs_queued", nil, 0},
		{"wh_gitd_jobs_running", nil, 0},
	}
	for _, tc := range cases {
		if v, ok := value(fams, tc.name, tc.labels...); !ok || v != tc.want {
			t.Errorf("%s%v: %v (found %v), want %v", tc.name, tc.labels, v, ok, tc.want)
		}
	}
	if len(fams["wh_gitd_jobs_total"].GetMetric()) != 2 {
		t.Errorf("jobs_total has %d series, want 2", len(fams["wh_gitd_jobs_total"].GetMetric()))
	}
	v, _ := value(fams, "wh_gitd_last_success_timestamp_seconds", "repo", "site", "target", "main")
	if age := time.Since(time.Unix(int64(v), 0)); age < 0 || age > 10*time.Minute {
		t.Errorf("last success of main: %v, want the job's end", v)
	}
	if _, ok := value(fams, "wh_gitd_last_success_timestamp_seconds", "repo", "site", "target", "dev"); ok {
		t.Error("dev never succeeded but has a last success")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
