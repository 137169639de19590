package report

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Limits of the sender.
const (
	// perMinute bounds the content-creating requests of one lane (one
	// token) a minute: GitHub's secondary rate limit is 80.
	perMinute = 80
	// maxBackoff bounds the exponential wait between attempts.
	maxBackoff = time.Hour
	// idle is how long the sender sleeps with nothing due.
	idle = time.Minute
)

// Outbox is the job store's outbox as the sender uses it; *jobstore.Store
// is the real one.
type Outbox interface {
	Outbox() ([]jobstore.Message, error)
	Retry(m jobstore.Message) error
	Done(m jobstore.Message) error
	Compact(max int) (int, error)
	Outboxed() <-chan struct{}
}

// Options configure a Sender.
type Options struct {
	Settings *settings.Settings
	Store    Outbox
	Logger   zerolog.Logger
	// UserAgent is sent with every request, such as wh-gitd/v1.2.3.
	UserAgent string
	// Transport sends the requests (default http.DefaultTransport).
	Transport http.RoundTripper
	// OnPost, if set, is told of every request: the forge (github, gitlab,
	// gitea, forgejo, or notify) and the answer's class (2xx, 4xx, 5xx,
	// network, rate_limited).
	OnPost func(forge, class string)
}

// Sender posts the outbox's messages: one goroutine, each lane in order,
// at most perMinute requests a lane a minute. Make it with New, then
// Start; Close stops it. It never blocks a job: the outbox is its only
// input.
type Sender struct {
	set    atomic.Pointer[settings.Settings]
	store  Outbox
	log    zerolog.Logger
	ua     string
	client *http.Client
	onPost func(forge, class string)
	apps   appTokens
	// lanes is the sender goroutine's own: no lock.
	lanes  map[string]*laneState
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// laneState is what the sender knows of one lane between passes.
type laneState struct {
	sent  []time.Time // the requests of the last minute
	until time.Time   // a rate limit's end
}

// New makes a sender; Start starts it.
func New(o Options) *Sender {
	s := &Sender{store: o.Store, log: o.Logger, ua: o.UserAgent, onPost: o.OnPost, lanes: map[string]*laneState{}}
	s.set.Store(o.Settings)
	tr := o.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	// Redirects are not followed: requests go only to the settings' URLs.
	s.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return s
}

// SetSettings replaces the settings (a reload); messages already in the
// outbox are sent with the new ones.
func (s *Sender) SetSettings(set *settings.Settings) { s.set.Store(set) }

// Start starts the sender's goroutine.
func (s *Sender) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx)
	}()
}

// Close stops the sender; a request under way is abandoned and its
// message stays in the outbox for the next start.
func (s *Sender) Close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
}

func (s *Sender) run(ctx context.Context) {
	for {
		wake := s.pass(ctx)
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.store.Outboxed():
		case <-t.C:
		}
		t.Stop()
	}
}

// pass sends the first message of every lane that may send now, and
// returns when the next pass is due.
func (s *Sender) pass(ctx context.Context) time.Time {
	set := s.set.Load()
	msgs, err := s.outbox(set.Report.MaxQueue)
	if err != nil {
		s.log.Error().Err(err).Msg("outbox unreadable")
		return time.Now().Add(idle)
	}
	now, wake, sent := time.Now(), time.Now().Add(idle), false
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.Lane] || ctx.Err() != nil {
			continue
		}
		seen[m.Lane] = true
		if due := s.due(m); due.After(now) {
			wake = earliest(wake, due)
			continue
		}
		s.attempt(ctx, set, m)
		sent = true
	}
	if sent {
		return now
	}
	return wake
}

// outbox reads the messages waiting, compacting the outbox first when it
// holds more than max.
func (s *Sender) outbox(max int) ([]jobstore.Message, error) {
	msgs, err := s.store.Outbox()
	if err != nil || len(msgs) <= max {
		return msgs, err
	}
	n, err := s.store.Compact(max)
	if err != nil {
		s.log.Error().Err(err).Msg("outbox not compacted")
	} else if n > 0 {
		s.log.Warn().Int("dropped", n).Msg("outbox full: statuses and notifications a newer one replaces were dropped")
	}
	return s.store.Outbox()
}

// due is when the lane of m may send m.
func (s *Sender) due(m jobstore.Message) time.Time {
	l := s.lane(m.Lane)
	due := m.NotBefore
	due = later(due, l.until)
	if len(l.sent) >= perMinute {
		due = later(due, l.sent[len(l.sent)-perMinute].Add(time.Minute))
	}
	return due
}

func (s *Sender) lane(name string) *laneState {
	l := s.lanes[name]
	if l == nil {
		l = &laneState{}
		s.lanes[name] = l
	}
	return l
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// decodeBody reads a message's body.
func decodeBody(m jobstore.Message) (body, error) {
	var b body
	if err := json.Unmarshal(m.Body, &b); err != nil {
		return b, fmt.Errorf("outbox message %d does not decode: %w", m.Seq, err)
	}
	return b, nil
}

// forgeOf names the target of b for OnPost.
func forgeOf(b body) string {
	if b.Kind == kindNotify {
		return "notify"
	}
	return b.Forge
}
