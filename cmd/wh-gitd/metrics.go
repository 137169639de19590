package main

import (
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/metrics"
)

// newMetrics makes the daemon's metrics: the queue gauges read s's runner
// (made later, read only when scraped), the outbox gauge s's store, and
// each target's last success starts from the job history.
func newMetrics(s *service) *metrics.Metrics {
	mx := metrics.New(metrics.Options{Load: func() (int, int) { return s.rn.Counts() },
		OutboxPending: s.store.OutboxLen})
	recs, err := s.store.List(job.Filter{State: job.Succeeded, Limit: 10000})
	if err != nil {
		s.log.Warn().Err(err).Msg("job history partly unreadable: last successes may be missing from the metrics")
	}
	mx.Seed(recs)
	return mx
}
