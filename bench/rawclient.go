package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection to the daemon, each request
// written as bytes in one writev and each answer read by hand. It is the
// load generator's default: on two cores shared with the daemon, net/http's
// client (a transport with its own reader and writer goroutines, a header
// map and a request object per delivery) took about 100 µs of CPU per
// request, a third of the machine in the 64-connection rows, where this
// takes a fraction of it (BENCHMARKS, "A lighter load generator"). It
// sends exactly the headers the net/http client sends (signer.headers).
type rawConn struct {
	addr, host, path string
	timeout          time.Duration
	c                net.Conn
	r                *bufio.Reader
	head             []byte
}

func newRawConn(u string, timeout time.Duration) (*rawConn, error) {
	p, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	path := p.EscapedPath()
	if p.RawQuery != "" {
		path += "?" + p.RawQuery
	}
	return &rawConn{addr: p.Host, host: p.Host, path: path, timeout: timeout}, nil
}

func (rc *rawConn) close() {
	if rc.c != nil {
		rc.c.Close()
		rc.c = nil
	}
}

// do sends one delivery and reads the whole answer. Any error closes the
// connection; the next request dials a new one, as net/http's client does.
func (rc *rawConn) do(ctx context.Context, s loadSpec, r request) (int, error) {
	if rc.c == nil {
		d := net.Dialer{Timeout: 5 * time.Second, Control: onlyLoopback}
		c, err := d.DialContext(ctx, "tcp", rc.addr)
		if err != nil {
			return 0, err
		}
		rc.c, rc.r = c, bufio.NewReaderSize(c, 4096)
	}
	sig := r.sig
	if sig == "" {
		sig = s.signer.signature(r.body)
	}
	h := append(rc.head[:0], "POST "...)
	h = append(h, rc.path...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, rc.host...)
	h = append(h, "\r\nContent-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: "...)
	h = append(h, r.delivery...)
	h = append(h, "\r\nX-GitHub-Hook-ID: 481516\r\nX-Hub-Signature-256: "...)
	h = append(h, sig...)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(r.body)), 10)
	h = append(h, "\r\n\r\n"...)
	rc.head = h
	if err := rc.c.SetDeadline(time.Now().Add(rc.timeout)); err != nil {
		rc.close()
		return 0, err
	}
	bufs := net.Buffers{h, r.body}
	if _, err := bufs.WriteTo(rc.c); err != nil {
		rc.close()
		return 0, err
	}
	status, keep, err := readAnswer(rc.r)
	if err != nil || !keep {
		rc.close()
	}
	return status, err
}

var errAnswer = errors.New("bench: malformed HTTP answer")

// readAnswer reads one HTTP/1.1 answer and discards its body, framed by
// Content-Length or chunked (none for 1xx, 204 and 304); keep says whether
// the connection may carry the next request. An answer it cannot frame is
// an error, counted as such by the row, never guessed at.
func readAnswer(r *bufio.Reader) (status int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status line %q", errAnswer, line)
	}
	length, chunked, keep := int64(-1), false, line[7] == '1'
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return status, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("%w: header %q", errAnswer, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, false, fmt.Errorf("%w: Content-Length %q", errAnswer, value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			if !asciiEqualFold(value, "chunked") {
				return status, false, fmt.Errorf("%w: Transfer-Encoding %q", errAnswer, value)
			}
			chunked = true
		case asciiEqualFold(name, "Connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			}
		}
	}
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, keep, nil // no body, whatever the headers say (RFC 9112, 6.3)
	case chunked:
		return status, keep, skipChunks(r)
	case length < 0:
		return status, false, fmt.Errorf("%w: neither Content-Length nor chunked", errAnswer)
	}
	_, err = r.Discard(int(length))
	return status, keep, err
}

// skipChunks reads a chunked body to its end, trailers included.
func skipChunks(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errAnswer, line)
		}
		if n == 0 {
			break
		}
		if _, err := r.Discard(int(n)); err != nil {
			return err
		}
		if crlf, err := r.ReadSlice('\n'); err != nil || !bytes.Equal(crlf, []byte("\r\n")) {
			return fmt.Errorf("%w: chunk not ended by CRLF", errAnswer)
		}
	}
	for { // trailers, then the empty line
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
