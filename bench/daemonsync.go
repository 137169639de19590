package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
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
	*jobAPI
	b   *syncBench
	wc  string
	run uint32
	seq uint64
}

// jobAPI sends deliveries to a rig's daemon and reads their jobs' records
// over its control socket.
type jobAPI struct {
	rg    *rig
	hooks *http.Client
	ctl   *http.Client // the job API over the control socket
}

func newJobAPI(rg *rig) *jobAPI {
	sock := filepath.Join(rg.dir, "state", "control.sock")
	return &jobAPI{rg: rg, hooks: loopbackClient(30 * time.Second), ctl: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}}
}

func (a *jobAPI) close() {
	a.hooks.CloseIdleConnections()
	a.ctl.CloseIdleConnections()
}

// startDaemonSide starts the daemon of b's scenarios.
func startDaemonSide(ctx context.Context, b *syncBench) (*daemonSide, error) {
	d := &daemonSide{b: b, wc: filepath.Join(b.dir, "daemon-wc"), run: runID()}
	rg, err := newRig(b.e, filepath.Join(b.dir, "daemon"), newSecret(), 16, []entry{{name: "site", remote: b.url,
		path: d.wc, depth: b.depth, branch: "main", commands: []any{[]string{"true"}}}})
	if err == nil {
		err = rg.start(ctx)
	}
	if err != nil {
		return nil, err
	}
	d.jobAPI = newJobAPI(rg)
	return d, nil
}

func (d *daemonSide) stop() {
	d.close()
	d.rg.stop()
}

// clone moves the working copy aside, then syncs (the daemon clones it
// again).
func (d *daemonSide) clone(ctx context.Context) (sample, error) {
	if err := d.b.e.discard(d.wc); err != nil {
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
	id, err := d.deliver(ctx, req)
	if err != nil {
		return sample{}, err
	}
	rec, err := d.wait(ctx, id, 15*time.Minute)
	if err != nil {
		return sample{}, err
	}
	if rec.State != "succeeded" && rec.State != "skipped" {
		return sample{}, fmt.Errorf("daemon job %s %s: %s", id, rec.State, rec.Error)
	}
	return sample{wall: time.Duration(rec.SyncMS) * time.Millisecond}, nil
}

// deliver sends a delivery to entry site and returns the job of its 202.
func (a *jobAPI) deliver(ctx context.Context, r request) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.rg.hookURL("site"), bytes.NewReader(r.body))
	if err != nil {
		return "", err
	}
	signer{[]byte(a.rg.secret)}.headers(req.Header, r.body, r.sig, r.delivery)
	resp, err := a.hooks.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusAccepted {
		err = fmt.Errorf("delivery answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var answer struct {
		Job string `json:"job"`
	}
	if err == nil {
		err = json.Unmarshal(body, &answer)
	}
	return answer.Job, err
}

// jobRecord is what the rows read of a job record.
type jobRecord struct {
	State   string    `json:"state"`
	Error   string    `json:"error"`
	Started time.Time `json:"started"`
	SyncMS  int64     `json:"sync_ms"`
}

// wait polls the job API until job id has ended, the pause between two
// requests doubling from 5 to 100 ms. The rows read times from the record,
// so how soon the end is seen changes none of them; polling every 5 ms made
// the daemon answer hundreds of requests during a long sync (2.7 % of its
// CPU in a profile of the large force-push row), beside the sync measured.
func (a *jobAPI) wait(ctx context.Context, id string, limit time.Duration) (jobRecord, error) {
	deadline := time.Now().Add(limit)
	pause := 5 * time.Millisecond
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://wh-gitd/api/jobs/"+id, nil)
		if err != nil {
			return jobRecord{}, err
		}
		resp, err := a.ctl.Do(req)
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
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	return jobRecord{}, fmt.Errorf("daemon job %s did not end within %s; daemon log: %s", id, limit, tail(a.rg.d.log))
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
