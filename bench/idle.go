package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxMetricsCost is how much more resident memory an idle daemon may take
// with /metrics served and scraped once than without metrics and having
// served one other request.
const maxMetricsCost = 500_000 // bytes

// idleKind is what a daemon measured idle serves before the wait.
type idleKind int

const (
	idleUntouched idleKind = iota // metrics off, no request after the start's readiness check
	idleServed                    // metrics off, one GET /healthz once it is ready
	idleScraped                   // metrics on, /metrics scraped once
)

// idleRun is one daemon measured idle.
type idleRun struct {
	rss     int64 // bytes
	scraped int   // bytes of the one scrape; 0 with metrics off
}

// metricsRows measures the idle resident memory of a daemon with two
// entries configured: with metrics off (no metrics: block), untouched and
// after one GET /healthz, and with metrics on (a token set, and /metrics
// scraped once before the wait), the three alternating cfg.reps times; the
// rows give the medians. The daemon gives its code's pages back once it is
// ready (after the harness's readiness check), so the first request after
// that brings back the pages of serving HTTP: metrics are charged against
// the daemon that served one request once ready.
func metricsRows(ctx context.Context, e *benchEnv) []row {
	off, served := "idle RSS, metrics off, 2 repos configured", "idle RSS, metrics off, one GET /healthz served, 2 repos configured"
	on := "idle RSS, metrics on and scraped once, 2 repos configured"
	dir := filepath.Join(e.tmp, "metrics")
	up, _, err := localUpstream(ctx, e, dir)
	if err != nil {
		return []row{errRow(off, err)}
	}
	entries := []entry{
		{name: "site", remote: up, path: filepath.Join(dir, "wc-site"), depth: 1, branch: "main", commands: []any{"true"}},
		{name: "other", remote: up, path: filepath.Join(dir, "wc-other"), depth: 1, branch: "main", commands: []any{"true"}},
	}
	runs := map[idleKind][]idleRun{}
	var onErr error
	for i := range max(e.cfg.reps, 1) {
		for _, k := range []idleKind{idleUntouched, idleServed, idleScraped} {
			if k == idleScraped && onErr != nil {
				continue // a build without metrics: the off rows alone
			}
			r, err := idleDaemon(ctx, e, filepath.Join(dir, fmt.Sprintf("run-%d-%d", i, k)), entries, k)
			switch {
			case err == nil:
				runs[k] = append(runs[k], r)
			case k == idleScraped:
				onErr = err
			default:
				return []row{errRow(off, err)}
			}
		}
	}
	wait := fmt.Sprintf(", %s after start (median of %d)", e.cfg.idleWait, len(runs[idleUntouched]))
	a, b := medianRSS(runs[idleUntouched]), medianRSS(runs[idleServed])
	rows := []row{
		{name: off + wait, result: fmt.Sprintf("%.2f MB", float64(a)/1e6), target: "report", met: "-"},
		{name: served + wait, result: fmt.Sprintf("%.2f MB (%+.2f MB)", float64(b)/1e6, float64(b-a)/1e6),
			target: "report", met: "-"},
	}
	if onErr != nil {
		return append(rows, errRow(on, onErr))
	}
	ons := runs[idleScraped]
	c := medianRSS(ons)
	return append(rows, row{name: on + wait, result: fmt.Sprintf("%.2f MB (%+.2f MB over one request served; scrape %d bytes)",
		float64(c)/1e6, float64(c-b)/1e6, ons[0].scraped), target: "≤ served + 0.5 MB", met: yesNo(c-b <= maxMetricsCost)})
}

func medianRSS(runs []idleRun) int64 {
	v := make([]int64, len(runs))
	for i, r := range runs {
		v[i] = r.rss
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// idleDaemon starts a daemon for entries in dir, with a metrics token when
// kind is idleScraped (then scrapes it once), or serves it one GET /healthz
// when kind is idleServed, lets it idle and reads its VmRSS.
func idleDaemon(ctx context.Context, e *benchEnv, dir string, entries []entry, kind idleKind) (idleRun, error) {
	rg, err := newRig(e, dir, newSecret(), 64, entries)
	if err != nil {
		return idleRun{}, err
	}
	token := newSecret()
	if kind == idleScraped {
		if err := appendFile(rg.settings, "metrics: {token: "+q(token)+"}\n"); err != nil {
			return idleRun{}, err
		}
	}
	if err := rg.start(ctx); err != nil {
		return idleRun{}, err
	}
	defer rg.stop()
	var r idleRun
	switch kind {
	case idleScraped:
		if r.scraped, err = scrapeMetrics(rg.d.url, token); err != nil {
			return r, err
		}
	case idleServed:
		if _, err = get(rg.d.url+"/healthz", ""); err != nil {
			return r, err
		}
	}
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(e.cfg.idleWait):
	}
	rss, _, err := rg.d.memory()
	r.rss = rss << 10
	return r, err
}

// scrapeMetrics reads /metrics once and returns its size.
func scrapeMetrics(base, token string) (int, error) {
	b, err := get(base+"/metrics", token)
	if err == nil && !strings.Contains(string(b), "wh_gitd_") {
		err = fmt.Errorf("GET /metrics: no wh_gitd_ series in %.200s", b)
	}
	return len(b), err
}

// get asks for url once, with token as a bearer token when there is one,
// and returns the body of a 200 answer.
func get(url, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := loopbackClient(10 * time.Second)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, b)
	}
	return b, err
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
