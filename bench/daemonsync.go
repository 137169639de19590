package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// daemonSide is the git sync scenarios' third tool: a running wh-gitd with
// its own working copy of the same upstream, driven by push deliveries. A
// sample's time is the sync's, from the job record (sync_ms): a warm
// process, without the cold start wh-git-trigger pays; its memory is not
// the sync's alone, so it is not reported.
type daemonSide struct {
	b     *syncBench
	rg    *rig
	wc    string
	hooks *http.Client
	ctl   *http.Client // the job API over the control socket
	run   uint32
	seq   uint64
}

// startDaemonSide starts the daemon of b's scenarios.
func startDaemonSide(ctx context.Context, b *syncBench) (*daemonSide, error) {
	d := &daemonSide{b: b, wc: filepath.Join(b.dir, "daemon-wc"), run: runID()}
	var err error
	d.rg, err = newRig(b.e, filepath.Join(b.dir, "daemon"), newSecret(), 16, []entry{{name: "site", remote: b.url,
		path: d.wc, depth: b.depth, branch: "main", commands: []any{[]string{"true"}}}})
	if err == nil {
		err = d.rg.start(ctx)
	}
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(d.rg.dir, "state", "control.sock")
	d.hooks = loopbackClient(30 * time.Second)
	d.ctl = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	return d, nil
}

func (d *daemonSide) stop() {
	d.hooks.CloseIdleConnections()
	d.ctl.CloseIdleConnections()
	d.rg.stop()
}

// clone removes the working copy, then syncs (the daemon clones it again).
func (d *daemonSide) clone(ctx context.Context) (sample, error) {
	if err := os.RemoveAll(d.wc); err != nil {
		return sample{}, err
	}
	return d.sync(ctx)
}

// sync delivers a push of upstream main's tip and waits for its job.
func (d *daemonSide) sync(ctx context.Context) (sample, error) {
	tip, err := git(ctx, d.b.repo, d.b.e.env, nil, "rev-parse", "refs/heads/main")
	if err != nil {
		return sample{}, err
	}
	d.seq++
	req, err := signedRequest(push{repository: "bench/site", ref: "refs/heads/main", before: tip, after: tip},
		d.rg.secret, deliveryID(d.run, d.seq))
	if err != nil {
		return sample{}, err
	}
	var answer struct {
		Job string `json:"job"`
	}
	if err := d.post(ctx, req, &answer); err != nil {
		return sample{}, err
	}
	rec, err := d.wait(ctx, answer.Job, 15*time.Minute)
	if err != nil {
		return sample{}, err
	}
	if rec.State != "succeeded" && rec.State != "skipped" {
		return sample{}, fmt.Errorf("daemon job %s %s: %s", answer.Job, rec.State, rec.Error)
	}
	return sample{wall: time.Duration(rec.SyncMS) * time.Millisecond}, nil
}

// post sends a delivery and decodes its 202 answer into v.
func (d *daemonSide) post(ctx context.Context, r request, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.rg.hookURL("site"), bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	signer{[]byte(d.rg.secret)}.headers(req.Header, r.body, r.sig, r.delivery)
	resp, err := d.hooks.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusAccepted {
		err = fmt.Errorf("delivery answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// jobRecord is what the rows read of a job record.
type jobRecord struct {
	State  string `json:"state"`
	Error  string `json:"error"`
	SyncMS int64  `json:"sync_ms"`
}

// wait polls the job API until job id has ended.
func (d *daemonSide) wait(ctx context.Context, id string, limit time.Duration) (jobRecord, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://wh-gitd/api/jobs/"+id, nil)
		if err != nil {
			return jobRecord{}, err
		}
		resp, err := d.ctl.Do(req)
		if err != nil {
			return jobRecord{}, err
		}
		var answer struct {
			Job jobRecord `json:"job"`
		}
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		if err != nil {
			return jobRecord{}, err
		}
		switch answer.Job.State {
		case "queued", "running", "":
		default:
			return answer.Job, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return jobRecord{}, fmt.Errorf("daemon job %s did not end within %s; daemon log: %s", id, limit, tail(d.rg.d.log))
}

// daemonRow is the in-daemon row of a scenario: the sync's time against
// the git CLI's.
func daemonRow(name string, sc scenario) row {
	if sc.err != nil {
		return errRow(name, sc.err)
	}
	rt := float64(sc.daemon.wall) / float64(max(sc.git.wall, 1))
	return row{name: name, result: fmt.Sprintf("%s · %s fetched", fmtDur(sc.daemon.wall), fmtMB(sc.daemon.bytes)),
		git: fmtSample(sc.git), ratio: fmt.Sprintf("%.2f× time", rt), target: "≤ 1.0× time", met: yesNo(rt <= 1.0)}
}
