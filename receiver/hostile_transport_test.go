//go:build hostile

package receiver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/settings"
)

// serve runs the harness's settings and runner behind the real server of
// NewServerFor (the timeouts and header cap production uses), with the read
// timeouts given, and returns its address.
func (h *harness) serve(t *testing.T, readHeader, read time.Duration) string {
	t.Helper()
	set := *h.set
	set.HTTP.ReadHeaderTimeout, set.HTTP.ReadTimeout = readHeader, read
	log := zerolog.New(zerolog.SyncWriter(h.logs))
	srv := receiver.NewServerFor(&set, receiver.New(receiver.Options{Settings: &set, Jobs: h.rn, Logger: log}), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// Methods other than POST get 405 with Allow: POST; bodies that are not
// JSON get 415; neither runs anything.
func TestHostileMethodsAndContentTypes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	body := pushBody(t, "gh", "main", testkit.ZeroSHA, c1)
	cases := []struct {
		name        string
		method      string
		contentType string
		code        int
	}{
		{"GET", http.MethodGet, "application/json", http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "application/json", http.StatusMethodNotAllowed},
		{"PATCH", http.MethodPatch, "application/json", http.StatusMethodNotAllowed},
		{"DELETE", http.MethodDelete, "application/json", http.StatusMethodNotAllowed},
		{"OPTIONS", http.MethodOptions, "application/json", http.StatusMethodNotAllowed},
		{"made-up method", "BREW", "application/json", http.StatusMethodNotAllowed},
		{"form-encoded", http.MethodPost, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"text/plain", http.MethodPost, "text/plain", http.StatusUnsupportedMediaType},
		{"multipart", http.MethodPost, "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"no content type", http.MethodPost, "", http.StatusUnsupportedMediaType},
		{"JSON look-alike", http.MethodPost, "application/jsonx", http.StatusUnsupportedMediaType},
		{"unparseable content type", http.MethodPost, "application/json; charset", http.StatusUnsupportedMediaType},
		{"JSON with a charset is JSON", http.MethodPost, "application/json; charset=utf-8", http.StatusAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.sendEdited("gh", testkit.Delivery{Body: body, Header: http.Header{"Content-Type": {tc.contentType}}},
				func(r *http.Request) { r.Method = tc.method })
			if a.Code != tc.code {
				t.Fatalf("answer %d %s, want %d", a.Code, a.Raw, tc.code)
			}
			if tc.code == http.StatusMethodNotAllowed && a.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", a.Header.Get("Allow"))
			}
			if tc.code == http.StatusAccepted {
				if r := h.wait(a.Str("job")); r.State != job.Succeeded {
					t.Errorf("job %s: %s", r.State, r.Error)
				}
			}
		})
	}
	if n := h.finished(); n != 1 {
		t.Errorf("%d jobs ran, want only the one JSON delivery's", n)
	}
}

// Oversized headers, in one field or in many, get 431 from the real server.
func TestHostileHeaderFlood(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	addr := h.serve(t, 5*time.Second, 10*time.Second)
	var many strings.Builder
	for i := range 1024 {
		fmt.Fprintf(&many, "X-H%d: %s\r\n", i, strings.Repeat("v", 60))
	}
	cases := []struct{ name, headers string }{
		{"one 64 KiB header", "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n"},
		{"1024 headers of 64 bytes", many.String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rawRequest(t, addr, "POST /hooks/gh HTTP/1.1\r\nHost: x\r\n"+tc.headers+"\r\n")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %d, want 431", resp.StatusCode)
			}
		})
	}
	h.noJobs(t)
}

// slowConn is a slowloris connection: it sends part of a request's headers,
// then one more byte every interval, until the server closes it.
func slowConn(t *testing.T, addr string, interval time.Duration, closed chan<- time.Duration) {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		closed <- -1
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		_, _ = io.WriteString(conn, "POST /hooks/gh HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		for {
			time.Sleep(interval)
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	_, _ = io.Copy(io.Discard, conn) // returns when the server closes
	closed <- time.Since(start)
}

// 200 slowloris connections are each closed at the read-header timeout,
// and meanwhile a real delivery is answered 202 within a second.
func TestHostileSlowloris(t *testing.T) {
	const conns, timeout = 200, 2 * time.Second
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	addr := h.serve(t, timeout, 10*time.Second)
	closed := make(chan time.Duration, conns)
	for range conns {
		go slowConn(t, addr, 100*time.Millisecond, closed)
	}
	time.Sleep(timeout / 4) // all of them are in the middle of their headers
	start := time.Now()
	a := h.do(testkit.Delivery{Provider: settings.GitHub, URL: "http://" + addr + "/hooks/gh", Secret: endpoints["gh"].secret,
		Body: pushBody(t, "gh", "main", testkit.ZeroSHA, c1)}.Request(t))
	if took := time.Since(start); a.Code != http.StatusAccepted || took > time.Second {
		t.Errorf("real delivery: %d %s after %s, want 202 within 1s", a.Code, a.Raw, took)
	}
	var longest time.Duration
	for range conns {
		d := <-closed
		if d < timeout-100*time.Millisecond || d > timeout+2*time.Second {
			t.Errorf("a slow connection was closed after %s, want about %s", d, timeout)
		}
		longest = max(longest, d)
	}
	t.Logf("%d slow connections closed, the last after %s", conns, longest)
	if r := h.wait(a.Str("job")); r.State != job.Succeeded {
		t.Errorf("job %s: %s", r.State, r.Error)
	}
}

// A body trickled byte by byte is cut at the read timeout: 408, and no job.
func TestHostileTrickledBody(t *testing.T) {
	const timeout = 2 * time.Second
	h := newHarness(t, harnessOpts{})
	c1 := h.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	addr := h.serve(t, timeout, timeout)
	body := pushBody(t, "gh", "main", testkit.ZeroSHA, c1)
	conn := testkit.Dial(t, addr, 20*time.Second)
	start := time.Now()
	fmt.Fprintf(conn, "POST /hooks/gh HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", len(body))
	_ = testkit.Delivery{Provider: settings.GitHub, Secret: endpoints["gh"].secret, Body: body}.Headers().Write(conn)
	_, _ = io.WriteString(conn, "\r\n")
	var mu sync.Mutex
	sent := 0
	go func() {
		for i := range body {
			if _, err := conn.Write(body[i : i+1]); err != nil {
				return
			}
			mu.Lock()
			sent++
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("status %d, want 408", resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("answered %v after %s, %d of %d bytes sent", err, took, sent, len(body))
	if took < timeout-100*time.Millisecond || took > timeout+2*time.Second {
		t.Errorf("connection ended after %s, want about %s", took, timeout)
	}
	if sent >= len(body) {
		t.Error("the whole body got through")
	}
	h.noJobs(t)
	if !bytes.Contains(h.logs.Bytes(), []byte("body not received within the read timeout")) {
		t.Errorf("the log does not say why:\n%s", h.logs.String())
	}
}
