package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// request is one delivery to send: its body, signature and delivery id.
type request struct {
	body     []byte
	sig      string
	delivery string
}

// loadSpec is one run of the load generator: conns connections, each its
// own net/http client with one keep-alive connection, sending deliveries
// back to back until the duration is over or max requests were sent.
type loadSpec struct {
	url      string
	conns    int
	warmup   time.Duration // sent but not counted
	duration time.Duration // counted
	max      uint64        // stop after this many requests (0: no limit)
	signer   signer
	next     func(seq uint64) request // seq counts from 1
	netHTTP  bool                     // send with net/http's client instead of rawConn
}

// loadResult is what the load generator saw after the warm-up.
type loadResult struct {
	hist     hist
	requests uint64
	status   map[int]uint64
	errors   uint64 // transport errors and non-2xx answers
	firstErr string
	elapsed  time.Duration
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// runLoad drives the daemon and returns the merged result.
func runLoad(ctx context.Context, s loadSpec) (*loadResult, error) {
	if err := loopbackURL(s.url); err != nil {
		return nil, err
	}
	var seq atomic.Uint64
	start := time.Now()
	measureFrom, end := start.Add(s.warmup), start.Add(s.warmup+s.duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(15*time.Second))
	defer cancel()
	results := make([]*loadResult, s.conns)
	var wg sync.WaitGroup
	for i := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = connection(ctx, s, &seq, measureFrom, end)
		}()
	}
	wg.Wait()
	total := &loadResult{status: map[int]uint64{}, elapsed: min(time.Since(measureFrom), s.duration)}
	if s.max > 0 {
		total.elapsed = time.Since(measureFrom)
	}
	for _, r := range results {
		total.hist.merge(&r.hist)
		total.requests += r.requests
		total.errors += r.errors
		for k, v := range r.status {
			total.status[k] += v
		}
		if total.firstErr == "" {
			total.firstErr = r.firstErr
		}
	}
	return total, nil
}

// connection is one client sending requests one after another.
func connection(ctx context.Context, s loadSpec, seq *atomic.Uint64, measureFrom, end time.Time) *loadResult {
	res := &loadResult{status: map[int]uint64{}}
	do, closeConn, err := sender(ctx, s)
	if err != nil {
		res.errors, res.firstErr = 1, err.Error()
		return res
	}
	defer closeConn()
	for ctx.Err() == nil {
		began := time.Now()
		if !began.Before(end) {
			return res
		}
		n := seq.Add(1)
		if s.max > 0 && n > s.max {
			return res
		}
		status, err := do(s.next(n))
		took := time.Since(began)
		if began.Before(measureFrom) {
			continue
		}
		res.requests++
		res.hist.record(took)
		if err == nil && (status < 200 || status > 299) {
			err = fmt.Errorf("answer %d", status)
		}
		if status != 0 {
			res.status[status]++
		}
		if err != nil {
			res.errors++
			if res.firstErr == "" {
				res.firstErr = err.Error()
			}
		}
	}
	return res
}

// sender returns how one connection sends a delivery, and how it closes.
func sender(ctx context.Context, s loadSpec) (do func(request) (int, error), closeConn func(), err error) {
	if s.netHTTP {
		client := loopbackClient(10 * time.Second)
		return func(r request) (int, error) { return send(ctx, client, s, r) }, client.CloseIdleConnections, nil
	}
	rc, err := newRawConn(s.url, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	return func(r request) (int, error) { return rc.do(ctx, s, r) }, rc.close, nil
}

// send posts one delivery with net/http's client and reads the whole answer.
func send(ctx context.Context, client *http.Client, s loadSpec, r request) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	s.signer.headers(req.Header, r.body, r.sig, r.delivery)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// loopbackClient is an HTTP client with one keep-alive connection that can
// only ever connect to 127.0.0.1, and never through a proxy.
func loopbackClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: onlyLoopback}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// onlyLoopback refuses, at the socket level, any address but 127.0.0.1.
func onlyLoopback(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if host != "127.0.0.1" {
		return fmt.Errorf("bench: refusing to connect to %s: only 127.0.0.1 is allowed", address)
	}
	return nil
}

// loopbackURL checks that u targets 127.0.0.1.
func loopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Hostname() != "127.0.0.1" {
		return errors.New("bench: refusing to target " + u + ": only 127.0.0.1 is allowed")
	}
	return nil
}
