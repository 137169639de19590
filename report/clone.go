package report

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// CloneToken is the token entry's remote is fetched with when its auth
// says from_status: its status token, or an installation token of its
// GitHub App, minted and cached with the ones its statuses use. It may
// be called from any goroutine; a mint goes out at once, outside the
// lanes' pace (a deploy waits for it).
func (s *Sender) CloneToken(ctx context.Context, entry string) (string, error) {
	repo, ok := s.set.Load().Repo(entry)
	if !ok || !repo.Status.Enabled() {
		return "", fmt.Errorf("entry %s has no status credentials", entry)
	}
	c := statusCred(repo)
	if c.app == nil {
		return c.token, nil
	}
	return s.apps.token(ctx, *c.app, s.direct)
}

// direct sends req as it is and returns a successful answer's body.
func (s *Sender) direct(req *http.Request) ([]byte, error) {
	req.Header.Set("User-Agent", s.ua)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no answer: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, &answerError{code: resp.StatusCode, header: resp.Header,
			msg: fmt.Sprintf("answer %d: %s", resp.StatusCode, answerText(raw))}
	}
	return raw, nil
}
