package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
)

// errNoDaemon means no daemon answers on the control socket of the
// settings' state dir: run in this process instead.
var errNoDaemon = errors.New("no daemon is running")

// client talks to the daemon's job API over its control socket.
type client struct {
	http *http.Client
}

// dial connects to the daemon of inv's settings; errNoDaemon when no socket
// is there or nothing answers on it.
func dial(inv invocation) (*client, error) {
	path := jobstore.ControlPath(inv.set.StateDir)
	conn, err := net.Dial("unix", path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, errNoDaemon
	case errors.Is(err, fs.ErrPermission):
		hint := "run it as the daemon's user or a member of its group"
		if owner := cmp.Or(ownerOf(path), ownerOf(inv.set.StateDir)); owner != "" {
			hint = inv.rerunAs(owner)
		}
		return nil, &cli.UsageError{Err: fmt.Errorf("connect to the daemon: %w", err), Hint: hint}
	case err != nil:
		return nil, fmt.Errorf("connect to the daemon: %w", err)
	}
	conn.Close()
	dialer := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, "unix", path)
	}}
	return &client{http: &http.Client{Transport: tr}}, nil
}

// apiError is an answer of the daemon other than a success.
type apiError struct {
	code   int
	answer job.Answer
}

func (e *apiError) Error() string {
	return fmt.Sprintf("the daemon answered %d: %s", e.code, e.answer.Error)
}

// endpoint is the URL of an API path: each segment escaped, then the query.
func endpoint(q url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString("http://wh-gitd") // the host is not used: the transport dials the socket
	for _, s := range segments {
		b.WriteString("/" + url.PathEscape(s))
	}
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

// send makes one request to the daemon and returns its answer if it is a
// success (2xx), else an *apiError.
func (c *client) send(ctx context.Context, method, u string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the daemon: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &apiError{code: resp.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &e.answer) != nil || e.answer.Error == "" {
		e.answer.Error = strconv.Quote(string(raw))
	}
	return nil, e
}

// call is send with a JSON answer decoded into out.
func (c *client) call(ctx context.Context, method, u string, body, out any) error {
	resp, err := c.send(ctx, method, u, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	return nil
}

func (c *client) trigger(ctx context.Context, name string, req job.TriggerRequest) (job.Answer, error) {
	var a job.Answer
	err := c.call(ctx, http.MethodPost, endpoint(nil, "api", "repos", name, "trigger"), req, &a)
	return a, err
}

func (c *client) record(ctx context.Context, id string) (*job.Record, error) {
	var a job.JobAnswer
	if err := c.call(ctx, http.MethodGet, endpoint(nil, "api", "jobs", id), nil, &a); err != nil {
		return nil, err
	}
	if a.Job == nil {
		return nil, fmt.Errorf("job %s: the daemon's answer holds no record", id)
	}
	return a.Job, nil
}

func (c *client) list(ctx context.Context, repo string) ([]*job.Record, error) {
	q := url.Values{"limit": {"50"}}
	if repo != "" {
		q.Set("repo", repo)
	}
	var a job.JobsAnswer
	err := c.call(ctx, http.MethodGet, endpoint(q, "api", "jobs"), nil, &a)
	return a.Jobs, err
}

// log copies the job's log to out; with follow, as it is written until the
// job ends.
func (c *client) log(ctx context.Context, id string, follow bool, out io.Writer) error {
	var q url.Values
	if follow {
		q = url.Values{"follow": {"1"}}
	}
	resp, err := c.send(ctx, http.MethodGet, endpoint(q, "api", "jobs", id, "log"), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

func (c *client) cancel(ctx context.Context, id string) error {
	var a job.Answer
	err := c.call(ctx, http.MethodPost, endpoint(nil, "api", "jobs", id, "cancel"), nil, &a)
	var ae *apiError
	if errors.As(err, &ae) {
		return fmt.Errorf("cancel job %s: %s", id, ae.answer.Error)
	}
	return err
}
