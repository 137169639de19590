package report

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/settings"
)

// attempt sends m once and records how it went: sent or refused for good
// (out of the outbox), or kept for a later attempt, unless that would be
// past report.give_up.
func (s *Sender) attempt(ctx context.Context, set *settings.Settings, m jobstore.Message) {
	b, err := decodeBody(m)
	code := 0
	if err == nil {
		code, err = s.post(ctx, set, m.Lane, b)
	}
	if ctx.Err() != nil {
		return // closing: the message stays as it was, for the next start
	}
	now := time.Now()
	m.Report.Attempts++
	m.Report.Updated, m.Report.Code, m.Report.Error = now, code, ""
	var ae *answerError
	errors.As(err, &ae)
	if err != nil {
		m.Report.Error = err.Error()
	}
	log := s.log.With().Str("job", m.Job).Str("to", m.Report.To).Str("state", m.Report.State).
		Int("attempt", m.Report.Attempts).Logger()
	switch class := classOf(err); {
	case err == nil:
		m.Report.Outcome = job.ReportSent
		s.record(s.store.Done(m))
		log.Debug().Msg("report sent")
	case class != "5xx" && class != "network" && class != "rate_limited":
		m.Report.Outcome = job.ReportFailed
		s.record(s.store.Done(m))
		log.Error().Int("code", m.Report.Code).Str("error", m.Report.Error).Msg("report refused: not sent again")
	default:
		wait := s.wait(set, m, ae, now)
		if now.Add(wait).After(m.Created.Add(set.Report.GiveUp)) {
			m.Report.Outcome = job.ReportGaveUp
			s.record(s.store.Done(m))
			log.Error().Int("code", m.Report.Code).Str("error", m.Report.Error).Msg("report not sent within report.give_up: given up")
			return
		}
		m.NotBefore = now.Add(wait)
		s.record(s.store.Retry(m))
		log.Warn().Int("code", m.Report.Code).Str("error", m.Report.Error).Dur("retry_in", wait).Msg("report not sent yet")
	}
}

func (s *Sender) record(err error) {
	if err != nil {
		s.log.Error().Err(err).Msg("outbox not updated")
	}
}

// wait is how long m waits before its next attempt: the answer's
// Retry-After, else until x-ratelimit-reset when no request remains, else
// report.backoff doubled with each attempt, up to an hour.
func (s *Sender) wait(set *settings.Settings, m jobstore.Message, ae *answerError, now time.Time) time.Duration {
	if ae != nil {
		if d, ok := retryAfter(ae.header, now); ok {
			return d
		}
		if d, ok := rateReset(ae.header, now); ok {
			return d
		}
	}
	d := set.Report.Backoff
	for i := 1; i < m.Report.Attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// retryAfter reads Retry-After: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// rateReset reads x-ratelimit-remaining: 0 with x-ratelimit-reset (Unix
// seconds).
func rateReset(h http.Header, now time.Time) (time.Duration, bool) {
	if h.Get("X-Ratelimit-Remaining") != "0" {
		return 0, false
	}
	n, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if err != nil {
		return 0, false
	}
	return max(time.Unix(n, 0).Sub(now), 0), true
}

// classOf is the answer's class for OnPost and for what happens next.
func classOf(err error) string {
	var ae *answerError
	switch {
	case err == nil:
		return "2xx"
	case errors.Is(err, errGone):
		return "gone"
	case !errors.As(err, &ae):
		return "network"
	case ae.code == http.StatusForbidden || ae.code == http.StatusTooManyRequests:
		return "rate_limited"
	case ae.code >= 500:
		return "5xx"
	}
	return "4xx"
}

// post sends b with the settings in force: a notification to its target,
// a status with the entry's token, or an App's, minted again once when
// GitHub refuses it.
func (s *Sender) post(ctx context.Context, set *settings.Settings, lane string, b body) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, set.Report.Timeout)
	defer cancel()
	if b.Kind == kindNotify {
		n, err := notifyTarget(set, b)
		if err != nil {
			return 0, errors.Join(errGone, err)
		}
		req, err := notifyRequest(ctx, n, b)
		if err != nil {
			return 0, errors.Join(errGone, err)
		}
		code, _, err := s.send(req, b, lane)
		return code, err
	}
	repo, ok := set.Repo(b.Entry)
	if !ok || !repo.Status.Enabled() || repo.Provider != b.Forge {
		return 0, errors.Join(errGone, errors.New("entry "+b.Entry+" posts no statuses now"))
	}
	c := statusCred(repo)
	for try := 0; ; try++ {
		token := c.token
		if c.app != nil {
			var err error
			if token, err = s.apps.token(ctx, *c.app, s.minter(b, lane)); err != nil {
				var ae *answerError
				errors.As(err, &ae)
				return codeOf(ae), err
			}
		}
		req, err := statusRequest(ctx, repo, b, token)
		if err != nil {
			return 0, errors.Join(errGone, err)
		}
		code, _, err := s.send(req, b, lane)
		if c.app != nil && try == 0 && code == http.StatusUnauthorized {
			s.apps.forget(*c.app)
			continue
		}
		return code, err
	}
}

// minter sends an App's token request on the lane of b.
func (s *Sender) minter(b body, lane string) func(*http.Request) ([]byte, error) {
	return func(r *http.Request) ([]byte, error) {
		_, raw, err := s.send(r, b, lane)
		return raw, err
	}
}

func codeOf(ae *answerError) int {
	if ae == nil {
		return 0
	}
	return ae.code
}
