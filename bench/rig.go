package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// rig is one daemon run: a folder with its settings and state, and the
// daemon once started.
type rig struct {
	e        *benchEnv
	dir      string
	listen   string
	secret   string
	settings string
	d        *daemon
}

// newRig writes the settings of a daemon serving entries into dir.
func newRig(e *benchEnv, dir, secret string, queue int, entries []entry) (*rig, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	listen, err := freeListen()
	if err != nil {
		return nil, err
	}
	settings, err := daemonSettings(dir, listen, secret, 2, queue, entries)
	if err != nil {
		return nil, err
	}
	return &rig{e: e, dir: dir, listen: listen, secret: secret, settings: settings}, nil
}

// start starts the daemon and waits until it answers.
func (r *rig) start(ctx context.Context) error {
	extra := append([]string(nil), r.e.cfg.env...)
	if r.e.cfg.gctrace {
		extra = append(extra, "GODEBUG=gctrace=1")
	}
	d, err := startDaemon(ctx, r.e.bins.daemon, r.settings, r.listen, childEnv(r.e.home, extra...))
	r.d = d
	return err
}

func (r *rig) stop() {
	if r.d != nil {
		r.d.stop()
		r.d = nil
	}
}

// trigger runs wh-git-trigger on the rig's settings for entry name: it
// clones the working copy before a daemon row, so that the daemon's jobs
// sync an existing working copy.
func (r *rig) trigger(ctx context.Context, name string) error {
	_, err := r.e.measure(ctx, r.dir, 5*time.Minute, r.e.cfg.env, r.e.bins.trigger, r.settings, name)
	return err
}

// hookURL is the webhook endpoint of entry name.
func (r *rig) hookURL(name string) string { return "http://" + r.listen + "/hooks/" + name }

// localUpstream copies the cached small upstream into dir/upstream.git (a
// file-path remote, as the daemon rows use) and returns it and its tip.
func localUpstream(ctx context.Context, e *benchEnv, dir string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	src, err := ensureUpstream(ctx, e.cfg.cacheDir, e.cfg.small, e.env)
	if err != nil {
		return "", "", err
	}
	dst := filepath.Join(dir, "upstream.git")
	if _, err := git(ctx, dir, e.env, nil, "clone", "--quiet", "--bare", src, dst); err != nil {
		return "", "", err
	}
	tip, err := git(ctx, dst, e.env, nil, "rev-parse", "refs/heads/main")
	return dst, tip, err
}

// signedRequest builds the delivery for p, signed with secret.
func signedRequest(p push, secret string, id string) (request, error) {
	body, err := pushPayload(p)
	if err != nil {
		return request{}, err
	}
	return request{body: body, sig: signer{[]byte(secret)}.signature(body), delivery: id}, nil
}

// runID is a number that makes this process's delivery ids unique.
func runID() uint32 { return uint32(time.Now().UnixNano()>>10) ^ uint32(os.Getpid())<<16 }

func errRow(name string, err error) row {
	return row{name: name, result: fmt.Sprintf("error: %v", err), met: "error"}
}
