package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Observer is told the outcome of every delivery to /hooks/{name}, for the
// metrics. Its methods are called on the request's goroutine and must
// return at once.
type Observer interface {
	// Delivery reports one answer. repo and provider are the entry's, both
	// "" for a name that is no entry (so a stranger's made-up names never
	// become a value); outcome is one of the Outcome constants.
	Delivery(repo, provider, outcome string)
}

// The outcomes of a delivery: every answer the webhook endpoint gives.
const (
	OutcomeQueued               = "queued"
	OutcomeDuplicate            = "duplicate"
	OutcomeIgnored              = "ignored"
	OutcomeBadRequest           = "bad_request"
	OutcomeUnauthorized         = "unauthorized"
	OutcomeForbidden            = "forbidden"
	OutcomeNotFound             = "not_found"
	OutcomeMethodNotAllowed     = "method_not_allowed"
	OutcomeTimeout              = "timeout"
	OutcomeTooLarge             = "too_large"
	OutcomeUnsupportedMediaType = "unsupported_media_type"
	OutcomeUnavailable          = "unavailable"
	OutcomeError                = "error"
)

// outcomeByStatus maps the answers other than 200 onto outcomes.
var outcomeByStatus = map[int]string{
	http.StatusAccepted:              OutcomeQueued,
	http.StatusBadRequest:            OutcomeBadRequest,
	http.StatusUnauthorized:          OutcomeUnauthorized,
	http.StatusForbidden:             OutcomeForbidden,
	http.StatusNotFound:              OutcomeNotFound,
	http.StatusMethodNotAllowed:      OutcomeMethodNotAllowed,
	http.StatusRequestTimeout:        OutcomeTimeout,
	http.StatusRequestEntityTooLarge: OutcomeTooLarge,
	http.StatusUnsupportedMediaType:  OutcomeUnsupportedMediaType,
	http.StatusServiceUnavailable:    OutcomeUnavailable,
}

// outcomeWriter remembers the answer given through it.
type outcomeWriter struct {
	http.ResponseWriter
	status int
	// answered is the status field of a 200 answer (duplicate, ignored).
	answered string
}

func (w *outcomeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *outcomeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *outcomeWriter) outcome() string {
	switch {
	case w.status == http.StatusOK && w.answered == job.StatusDuplicate:
		return OutcomeDuplicate
	case w.status == http.StatusOK || w.status == 0:
		return OutcomeIgnored
	}
	if o, ok := outcomeByStatus[w.status]; ok {
		return o
	}
	return OutcomeError
}

// noteAnswer records the status field of an answer written to w, when w
// is an outcomeWriter.
func noteAnswer(w http.ResponseWriter, v any) {
	ow, ok := w.(*outcomeWriter)
	if !ok {
		return
	}
	if a, ok := v.(job.Answer); ok {
		ow.answered = a.Status
	}
}

// observeHook serves a delivery and reports its outcome to the observer.
func (h *Handler) observeHook(w http.ResponseWriter, r *http.Request) {
	if h.observer == nil {
		h.serveHook(w, r)
		return
	}
	ow := &outcomeWriter{ResponseWriter: w}
	h.serveHook(ow, r)
	var repo, provider string
	if e, ok := h.set.Load().Repo(r.PathValue("name")); ok {
		repo, provider = e.Name, e.Provider
	}
	h.observer.Delivery(repo, provider, ow.outcome())
}

// serveMetrics serves GET /metrics to the scrapers metrics: allows: those
// with its token, from its networks. Without either it answers 404.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	set := h.set.Load()
	m := set.Metrics
	if h.metrics == nil || !m.Enabled() {
		fail(w, http.StatusNotFound, "metrics are off: set metrics.token or metrics.allow in the settings")
		return
	}
	if len(m.Allow) > 0 {
		client := clientAddr(r, set.TrustedProxies)
		if !client.IsValid() || !settings.Contains(m.Allow, client) {
			fail(w, http.StatusForbidden, "metrics are not served to this address")
			return
		}
	}
	if m.Token != "" && !bearer(r, m.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wh-gitd metrics"`)
		fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	h.metrics.ServeHTTP(w, r)
}

// bearer reports, in constant time, whether r carries token as its bearer
// token.
func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(token))
	return ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
