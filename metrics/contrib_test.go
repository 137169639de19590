package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/metrics"
)

// The sample dashboard and alert rules in contrib/ query only metrics
// that /metrics serves, and the dashboard is JSON.
func TestContribNamesServedMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{Load: func() (int, int) { return 0, 0 }, OutboxPending: func() int { return 0 }})
	t0 := time.Now()
	m.Delivery("site", "github", "queued")
	m.JobEnded(job.Record{Job: &job.Job{Repo: "site", Branch: "main", Queued: t0}, State: job.Succeeded,
		Started: t0, Finished: t0})
	m.Synced("site", time.Second)
	m.OutboxPost("github", "2xx")
	served := map[string]bool{}
	for name, f := range scrape(t, m) {
		served[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				served[name+suffix] = true
			}
		}
	}
	var dash any
	if err := json.Unmarshal([]byte(read(t, "../contrib/grafana/wh-gitd.json")), &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	names := regexp.MustCompile(`\b(wh_gitd|go|process)_[a-z_]+\b`)
	for _, file := range []string{"../contrib/grafana/wh-gitd.json", "../contrib/prometheus/wh-gitd-alerts.yaml"} {
		for _, name := range names.FindAllString(read(t, file), -1) {
			if !served[name] {
				t.Errorf("%s queries %s, which /metrics does not serve", file, name)
			}
		}
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
