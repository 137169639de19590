package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// burstRow sends burstN signed pushes of distinct commits to one branch as
// fast as burstConns connections go, the newest last, with a command that
// takes 200 ms, and counts the runs and checks the newest was deployed.
func burstRow(ctx context.Context, e *benchEnv) row {
	name := fmt.Sprintf("burst: %d pushes to one branch, %d conns, command `sleep 0.2`", e.cfg.burstN, e.cfg.burstConns)
	b, err := newBurst(ctx, e)
	if err != nil {
		return errRow(name, err)
	}
	defer b.rig.stop()
	e.logf("burst of %d pushes", e.cfg.burstN)
	return b.measure(ctx, name)
}

// burst is the daemon and the deliveries of the burst row.
type burst struct {
	e        *benchEnv
	rig      *rig
	reqs     []request
	runs, wc string
	secret   string
}

// newBurst makes the upstream and its commits, one delivery per commit,
// and starts the daemon on a cloned working copy.
func newBurst(ctx context.Context, e *benchEnv) (*burst, error) {
	dir := filepath.Join(e.tmp, "burst")
	up, tip, err := localUpstream(ctx, e, dir)
	if err != nil {
		return nil, err
	}
	b := &burst{e: e, runs: filepath.Join(dir, "runs"), wc: filepath.Join(dir, "wc"), secret: newSecret()}
	cmd := fmt.Sprintf("echo \"$WH_SHA\" >> '%s' && sleep 0.2", b.runs)
	b.rig, err = newRig(e, filepath.Join(dir, "daemon"), b.secret, 4096, []entry{{name: "site", remote: up,
		path: b.wc, depth: 1, branch: "main", commands: []any{cmd}}})
	if err == nil {
		err = b.rig.trigger(ctx, "site")
	}
	if err == nil {
		b.reqs, err = burstRequests(ctx, e, up, tip, b.secret, e.cfg.burstN)
	}
	if err == nil {
		err = os.Remove(b.runs) // the trigger's run
	}
	if err == nil {
		err = b.rig.start(ctx)
	}
	return b, err
}

// measure sends all but the newest push concurrently, then the newest, and
// waits for the runs to settle.
func (b *burst) measure(ctx context.Context, name string) row {
	n := len(b.reqs)
	spec := loadSpec{url: b.rig.hookURL("site"), conns: b.e.cfg.burstConns, duration: time.Minute, max: uint64(n - 1),
		signer: signer{[]byte(b.secret)}, netHTTP: b.e.cfg.netHTTP, next: func(seq uint64) request { return b.reqs[seq-1] }}
	res, err := runLoad(ctx, spec)
	if err != nil {
		return errRow(name, err)
	}
	client := loopbackClient(10 * time.Second)
	defer client.CloseIdleConnections()
	last := b.reqs[n-1]
	if status, err := send(ctx, client, spec, last); err != nil || status != http.StatusAccepted {
		return errRow(name, fmt.Errorf("last push: answer %d, %v", status, err))
	}
	count, head, err := settle(ctx, b.e, b.wc, b.runs, lastSHA(last), time.Minute)
	if err != nil {
		return errRow(name, err)
	}
	deployed := head == lastSHA(last)
	return row{name: name, result: fmt.Sprintf("%d runs · newest commit deployed: %s · %s pushes/s · %s×202 · %s errors",
		count, yesNo(deployed), fmtCount(uint64(float64(n-1)/res.elapsed.Seconds())),
		fmtCount(res.status[http.StatusAccepted]+1), fmtCount(res.errors)),
		target: "≤ 3 runs, newest deployed", met: yesNo(count <= 3 && deployed && res.errors == 0)}
}

// burstRequests pushes n commits to main upstream and returns one signed
// delivery per commit, oldest first.
func burstRequests(ctx context.Context, e *benchEnv, up, tip, secret string, n int) ([]request, error) {
	shas, err := appendCommits(ctx, up, e.cfg.small, e.env, 20_000, n)
	if err != nil {
		return nil, err
	}
	run, prev := runID(), tip
	reqs := make([]request, n)
	for i, sha := range shas {
		reqs[i], err = signedRequest(push{repository: "bench/site", ref: "refs/heads/main", before: prev, after: sha},
			secret, deliveryID(run, uint64(i)))
		if err != nil {
			return nil, err
		}
		prev = sha
	}
	return reqs, nil
}

// lastSHA is the commit a burst request names.
func lastSHA(r request) string {
	i := bytes.Index(r.body, []byte(`"after":"`))
	return string(r.body[i+9 : i+49])
}

// settle waits until the working copy is at want and no run has started
// for a second, and returns the number of runs and the working copy's HEAD.
func settle(ctx context.Context, e *benchEnv, wc, runs, want string, limit time.Duration) (int, string, error) {
	deadline := time.Now().Add(limit)
	count, since := -1, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		head, _ := git(ctx, wc, e.env, nil, "rev-parse", "HEAD")
		if c := countLines(runs); c != count {
			count, since = c, time.Now()
		}
		if head == want && time.Since(since) >= time.Second {
			return count, head, nil
		}
	}
	head, _ := git(ctx, wc, e.env, nil, "rev-parse", "HEAD")
	if head != "" {
		return count, head, nil
	}
	return count, "", errors.New("working copy has no HEAD after the burst")
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}
