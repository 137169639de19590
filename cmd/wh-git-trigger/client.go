package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// errNoDaemon means no daemon answers for these settings (or its API is
// off in them): run in this process instead.
var errNoDaemon = errors.New("no daemon is running")

// client talks to the daemon's job API.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(set *settings.Settings) (*client, error) {
	if set.API.Token == "" {
		return nil, errNoDaemon
	}
	host, port, err := net.SplitHostPort(set.Listen)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return &client{base: "http://" + net.JoinHostPort(host, port), token: set.API.Token,
		http: &http.Client{}}, nil
}

// do sends one API request and decodes the JSON answer into out.
func (c *client) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return 0, errNoDaemon
	}
	if err != nil {
		return 0, fmt.Errorf("ask the daemon: %w", err)
	}
	defer resp.Body.Close()
	if out == nil {
		return resp.StatusCode, nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("daemon answered %d: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, nil
}

// apiAnswer is the envelope of every API answer.
type apiAnswer struct {
	Status string           `json:"status"`
	Error  string           `json:"error"`
	Hint   string           `json:"hint"`
	JobID  string           `json:"-"`
	Job    json.RawMessage  `json:"job"`
	Jobs   []*runner.Record `json:"jobs"`
}

// viaDaemon submits job to the running daemon, follows its log to out and
// returns its outcome; errNoDaemon when there is none to submit to.
func viaDaemon(ctx context.Context, set *settings.Settings, job *runner.Job, out io.Writer) error {
	c, err := newClient(set)
	if err != nil {
		return err
	}
	var a apiAnswer
	req := map[string]string{"branch": job.Branch, "sha": job.SHA, "environment": job.Environment}
	code, err := c.do(ctx, http.MethodPost, "/api/repos/"+job.Repo+"/trigger", req, &a)
	if err != nil {
		return err
	}
	var id string
	if code != http.StatusAccepted || json.Unmarshal(a.Job, &id) != nil {
		return fmt.Errorf("the daemon refused the job (%d): %s", code, a.Error)
	}
	fmt.Fprintf(os.Stderr, "wh-git-trigger: submitted to the daemon as job %s\n", id)
	if err := c.follow(ctx, id, out); err != nil {
		return err
	}
	rec, err := c.record(ctx, id)
	if err != nil {
		return err
	}
	return result(rec)
}

// follow copies the job's log to out as it is written, until the job ends.
func (c *client) follow(ctx context.Context, id string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/jobs/"+id+"/log?follow=1", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("follow job %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("follow job %s: the daemon answered %d", id, resp.StatusCode)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}

func (c *client) record(ctx context.Context, id string) (*runner.Record, error) {
	var a apiAnswer
	code, err := c.do(ctx, http.MethodGet, "/api/jobs/"+id, nil, &a)
	if err != nil {
		return nil, err
	}
	var rec runner.Record
	if code != http.StatusOK || json.Unmarshal(a.Job, &rec) != nil {
		return nil, fmt.Errorf("job %s: the daemon answered %d: %s", id, code, a.Error)
	}
	return &rec, nil
}

// history serves --list and --show, through the daemon when it runs, from
// the job store otherwise.
func history(ctx context.Context, set *settings.Settings, f flags, out io.Writer) error {
	if c, err := newClient(set); err == nil {
		err := c.history(ctx, f, out)
		if !errors.Is(err, errNoDaemon) {
			return err
		}
	}
	store, err := openStore(set)
	if err != nil {
		return err
	}
	defer store.Close()
	if f.show == "" {
		printJobs(out, store.List(runner.Filter{Repo: f.repo, Limit: 50}))
		return nil
	}
	rec, ok := store.Get(f.show)
	if !ok {
		return fmt.Errorf("no job %s in %s", f.show, set.StateDir)
	}
	return showJob(out, rec, func(w io.Writer) error {
		b, err := os.ReadFile(rec.Log)
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	})
}

func (c *client) history(ctx context.Context, f flags, out io.Writer) error {
	if f.show == "" {
		var a apiAnswer
		code, err := c.do(ctx, http.MethodGet, "/api/jobs?limit=50&repo="+f.repo, nil, &a)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("list jobs: the daemon answered %d: %s", code, a.Error)
		}
		printJobs(out, a.Jobs)
		return nil
	}
	rec, err := c.record(ctx, f.show)
	if err != nil {
		return err
	}
	return showJob(out, rec, func(w io.Writer) error { return c.follow(ctx, f.show, w) })
}

func printJobs(out io.Writer, recs []*runner.Record) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tREPO\tTARGET\tEVENT\tSTATE\tSHA\tQUEUED")
	for _, r := range recs {
		target := r.Job.Branch
		if r.Job.Environment != "" {
			target = "env " + r.Job.Environment
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.12s\t%s\n", r.Job.ID, r.Job.Repo, target, r.Job.Event,
			r.State, cmp.Or(r.Sync.Commit, r.Job.SHA), r.Job.Queued.Local().Format(time.DateTime))
	}
	tw.Flush()
}

func showJob(out io.Writer, rec *runner.Record, log func(io.Writer) error) error {
	b, _ := json.MarshalIndent(rec, "", "  ")
	fmt.Fprintf(out, "%s\n\n", b)
	if rec.Log == "" {
		return nil
	}
	fmt.Fprintln(out, strings.Repeat("-", 72))
	return log(out)
}
