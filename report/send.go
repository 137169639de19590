package report

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

// send makes one request of message body b on lane, and returns the
// answer's status, and its body when it is a success (GitLab's "cannot transition" is
// one: the state is already set). A failure is an *answerError, or a
// network error that never names the URL (a notify URL is a secret).
func (s *Sender) send(req *http.Request, b body, lane string) (int, []byte, error) {
	req.Header.Set("User-Agent", s.ua)
	l := s.lane(lane)
	now := time.Now()
	l.sent = append(trimMinute(l.sent, now), now)
	resp, err := s.client.Do(req)
	if err != nil {
		s.posted(b, "network")
		return 0, nil, fmt.Errorf("no answer: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if d, ok := rateReset(resp.Header, now); ok {
		l.until = now.Add(d)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		s.posted(b, "2xx")
		return resp.StatusCode, raw, nil
	}
	if b.Forge == settings.GitLab && resp.StatusCode == http.StatusBadRequest &&
		strings.Contains(string(raw), "Cannot transition status") {
		s.posted(b, "4xx")
		return resp.StatusCode, raw, nil
	}
	ae := &answerError{code: resp.StatusCode, header: resp.Header,
		msg: fmt.Sprintf("answer %d: %s", resp.StatusCode, answerText(raw))}
	s.posted(b, classOf(ae))
	return resp.StatusCode, nil, ae
}

// unwrapURL drops the URL from a client's error: a notify URL is a secret.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *Sender) posted(b body, class string) {
	if s.onPost != nil {
		s.onPost(forgeOf(b), class)
	}
}

// trimMinute drops the times more than a minute before now.
func trimMinute(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Minute {
		i++
	}
	return ts[i:]
}
