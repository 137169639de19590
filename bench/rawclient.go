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
// map and a request object per delivery) took 70–85 µs of CPU per
// request, as much as the daemon in the ignored rows, where this takes
// 27–36 µs (BENCHMARKS, "A lighter load generator"). It sends the headers
// the net/http client sends (hookHeaders, the delivery id, the signature).
type rawConn struct {
	host    string // host:port, dialed and sent as Host
	timeout time.Duration
	c       net.Conn
	r       *bufio.Reader
	// prefix is every request's start: the request line, Host and
	// hookHeaders; head is the buffer a request's headers are built in.
	prefix, head []byte
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
	prefix := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, p.Host)
	for _, kv := range hookHeaders {
		prefix = fmt.Appendf(prefix, "%s: %s\r\n", kv[0], kv[1])
	}
	return &rawConn{host: p.Host, timeout: timeout, prefix: prefix}, nil
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
		c, err := d.DialContext(ctx, "tcp", rc.host)
		if err != nil {
			return 0, err
		}
		rc.c, rc.r = c, bufio.NewReaderSize(c, 4096)
	}
	h := append(rc.head[:0], rc.prefix...)
	h = append(h, "X-GitHub-Delivery: "...)
	h = append(h, r.delivery...)
	h = append(h, "\r\nX-Hub-Signature-256: "...)
	h = append(h, s.signer.sigOf(r.body, r.sig)...)
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
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, false, fmt.Errorf("%w: Content-Length %q", errAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return status, false, fmt.Errorf("%w: Transfer-Encoding %q", errAnswer, value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
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
