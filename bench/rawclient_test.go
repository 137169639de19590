package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is what the test server received of one request.
type seen struct {
	header http.Header
	body   string
	remote string
	uri    string
}

func recordingServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{header: r.Header.Clone(), body: string(b), remote: r.RemoteAddr, uri: r.RequestURI})
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// TestRawConnSendsWhatNetHTTPSends: the same delivery through both clients
// reaches the server with the same method, path, headers and body, and
// rawConn keeps its one connection across requests.
func TestRawConnSendsWhatNetHTTPSends(t *testing.T) {
	srv, got := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"queued","job":"j1"}`+"\n")
	})
	s := loadSpec{url: srv.URL + "/hooks/site?x=1", signer: signer{[]byte("s3cret")}}
	body := []byte(`{"ref":"refs/heads/main"}`)
	ctx := context.Background()

	s.netHTTP = true
	do, closeConn, err := sender(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := do(request{body: body, delivery: "d-1"}); err != nil || st != http.StatusAccepted {
		t.Fatalf("net/http: %d, %v", st, err)
	}
	closeConn()

	s.netHTTP = false
	do, closeConn, err = sender(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn()
	for _, d := range []string{"d-1", "d-2", "d-3"} {
		if st, err := do(request{body: body, delivery: d}); err != nil || st != http.StatusAccepted {
			t.Fatalf("raw %s: %d, %v", d, st, err)
		}
	}
	all := got()
	if len(all) != 4 {
		t.Fatalf("server saw %d requests, want 4", len(all))
	}
	want, raw := all[0], all[1]
	if !reflect.DeepEqual(raw.header, want.header) {
		t.Errorf("headers differ:\n raw      %v\n net/http %v", raw.header, want.header)
	}
	if raw.body != want.body || raw.uri != want.uri {
		t.Errorf("raw sent %q to %q, net/http %q to %q", raw.body, raw.uri, want.body, want.uri)
	}
	if want.header.Get("X-Hub-Signature-256") != s.signer.signature(body) {
		t.Errorf("signature %q, want %q", want.header.Get("X-Hub-Signature-256"), s.signer.signature(body))
	}
	for i, r := range all[2:] {
		if r.remote != raw.remote {
			t.Errorf("request %d came from %s, the first from %s: the connection was not kept", i+2, r.remote, raw.remote)
		}
		if d := r.header.Get("X-GitHub-Delivery"); d != []string{"d-2", "d-3"}[i] {
			t.Errorf("request %d carried delivery %q", i+2, d)
		}
	}
}

// TestRawConnAnswers: statuses are returned as they are, a server that
// closes the connection gets a new one, and an answer rawConn cannot frame
// is an error, not a guess.
func TestRawConnAnswers(t *testing.T) {
	srv, got := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-GitHub-Delivery") {
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "ignored\n")
		case "unauthorized":
			http.Error(w, "bad signature", http.StatusUnauthorized)
		case "chunked":
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "part one\n")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part two\n")
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		case "unframed":
			c, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n\r\nno length")
			buf.Flush()
			c.Close()
		default:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, strings.Repeat("x", 10_000))
		}
	})
	rc, err := newRawConn(srv.URL+"/hooks/site", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	s := loadSpec{signer: signer{[]byte("s")}}
	ctx := context.Background()
	for _, c := range []struct {
		delivery string
		status   int
		fails    bool
	}{
		{"big", 202, false}, {"close", 200, false}, {"after-close", 202, false},
		{"unauthorized", 401, false}, {"empty", 204, false}, {"again", 202, false},
		{"chunked", 202, false}, {"after-chunked", 202, false},
		{"unframed", 202, true}, {"after-unframed", 202, false},
	} {
		st, err := rc.do(ctx, s, request{body: []byte("{}"), delivery: c.delivery})
		if st != c.status || (err != nil) != c.fails {
			t.Errorf("%s: status %d, error %v; want %d, error %v", c.delivery, st, err, c.status, c.fails)
		}
	}
	all := got()
	if len(all) != 10 {
		t.Fatalf("server saw %d requests, want 10", len(all))
	}
	if all[1].remote == all[2].remote {
		t.Errorf("the request after Connection: close came on the closed connection's address %s", all[2].remote)
	}
	if all[0].remote != all[1].remote || all[2].remote != all[7].remote {
		t.Errorf("keep-alive connection not reused: %s %s %s %s", all[0].remote, all[1].remote, all[2].remote, all[7].remote)
	}
	if all[9].remote == all[8].remote {
		t.Errorf("the request after an unframed answer came on the same connection %s", all[9].remote)
	}
}

func TestRawConnOnlyLoopback(t *testing.T) {
	rc, err := newRawConn("http://192.0.2.1:9/hooks/site", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.do(context.Background(), loadSpec{}, request{body: []byte("{}")})
	if err == nil || !strings.Contains(err.Error(), "only 127.0.0.1") {
		t.Fatalf("dial of a non-loopback address: %v", err)
	}
}
