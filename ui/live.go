package ui

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wh-gitd/wh-gitd/job"
)

// escapePattern matches a terminal escape sequence: CSI (colours, cursor
// moves), OSC (titles, links) and the short ones (charsets, keypad).
var escapePattern = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[ -/]*[0-Z\\^-~])`)

// partialEscape matches the start of an escape sequence that the next
// piece of a log may finish.
var partialEscape = regexp.MustCompile(`^\x1b(\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]*)$`)

// maxHeldEscape bounds how much of an unfinished escape sequence is held
// back for the next piece of the log.
const maxHeldEscape = 256

// logCleaner turns a job's log, piece by piece, into plain text: escape
// sequences removed, carriage returns made newlines, other control
// characters shown as their Unicode pictures, invalid UTF-8 replaced. What
// may be the start of a sequence, a CRLF or a character cut between two
// pieces is held back for the next one.
type logCleaner struct{ pending []byte }

// clean cleans p after what was held back; final sends all.
func (c *logCleaner) clean(p []byte, final bool) string {
	b := append(c.pending, p...)
	c.pending = nil
	if !final {
		cut := holdFrom(b)
		c.pending = append([]byte(nil), b[cut:]...)
		b = b[:cut]
	}
	return sanitize(b)
}

// holdFrom is where the part of b that may go on in the next piece starts.
func holdFrom(b []byte) int {
	n := len(b)
	for i := max(0, n-maxHeldEscape); i < n; i++ {
		if b[i] == 0x1b && partialEscape.Match(b[i:]) {
			return i
		}
	}
	if n > 0 && b[n-1] == '\r' {
		return n - 1
	}
	for k := 1; k <= 3 && k <= n; k++ {
		if r := b[n-k]; utf8.RuneStart(r) {
			if !utf8.FullRune(b[n-k:]) {
				return n - k
			}
			break
		}
	}
	return n
}

// sanitize makes b plain text (see logCleaner).
func sanitize(b []byte) string {
	s := string(escapePattern.ReplaceAll(b, nil))
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n' || r == '\t':
			return r
		case r < 0x20:
			return 0x2400 + r // ␛ for a lone escape, ␀ for NUL, ...
		case r == 0x7f:
			return '␡'
		}
		return r
	}, s)
}

// cleanWriter writes a log to w as plain text.
type cleanWriter struct {
	w  io.Writer
	lc logCleaner
}

func (c *cleanWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, c.lc.clean(p, false)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawLog sends a job's log as plain text; with follow=1 it goes on until
// the job ends. It is the log for a page without JavaScript.
func (h *Handler) rawLog(w http.ResponseWriter, r *http.Request, _ visitor) {
	follow := r.URL.Query().Get("follow") == "1"
	rc := http.NewResponseController(w)
	if follow {
		_ = rc.SetWriteDeadline(time.Time{}) // a followed log lasts as long as the job
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	cw := &cleanWriter{w: w}
	err := h.jobs.Follow(r.Context(), r.PathValue("id"), cw, follow, func() { _ = rc.Flush() })
	switch {
	case errors.Is(err, job.ErrNoLog):
		http.Error(w, "the job has no log", http.StatusNotFound)
	case err != nil:
		h.failRead(w, r, err)
	default:
		_, _ = io.WriteString(w, cw.lc.clean(nil, true))
	}
}

// sseWriter sends a log as Server-Sent Events: each piece a message of
// plain text whose id is the log's byte offset after it, from skip on.
type sseWriter struct {
	w    io.Writer
	skip int64
	pos  int64
	lc   logCleaner
}

func (s *sseWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip > 0 {
		k := min(s.skip, int64(len(p)))
		p, s.skip, s.pos = p[k:], s.skip-k, s.pos+k
	}
	s.pos += int64(len(p))
	if err := s.send(s.lc.clean(p, false)); err != nil {
		return 0, err
	}
	return n, nil
}

// send writes text as one message; nothing when it is empty.
func (s *sseWriter) send(text string) error {
	if text == "" {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "id: %d\n", s.pos-int64(len(s.lc.pending)))
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(s.w, b.String())
	return err
}

// logEvents follows a running job's log as Server-Sent Events from byte
// from (or Last-Event-ID, when the browser reconnects), and ends with an
// "end" event whose data is the job's final state.
func (h *Handler) logEvents(w http.ResponseWriter, r *http.Request, _ visitor) {
	from, err := strconv.ParseInt(cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from"), "0"), 10, 64)
	if err != nil || from < 0 {
		http.Error(w, "from must be a byte offset", http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	if _, err := h.jobs.Get(id); err != nil {
		h.failRead(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	_, _ = io.WriteString(w, "retry: 3000\n\n")
	_ = rc.Flush()
	sw := &sseWriter{w: w, skip: from}
	err = h.jobs.Follow(r.Context(), id, sw, true, func() { _ = rc.Flush() })
	if r.Context().Err() != nil || (err != nil && !errors.Is(err, job.ErrNoLog)) {
		return
	}
	_ = sw.send(sw.lc.clean(nil, true))
	state := "unknown"
	if rec, err := h.jobs.Get(id); err == nil {
		state = string(rec.State)
	}
	fmt.Fprintf(w, "event: end\ndata: %s\n\n", state)
	_ = rc.Flush()
}
