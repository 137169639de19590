package runner

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// capWriter passes the first head bytes through to w, keeps the last tail
// bytes in a ring, and on Close writes a marker for what was cut and then the
// kept tail. Memory stays at tail bytes however much is written, and the
// ring is made only once output goes past head: most jobs write a few
// lines, and a ring made for each of them (a MiB) was most of what a busy
// daemon allocated.
type capWriter struct {
	mu    sync.Mutex
	w     io.Writer
	head  int64 // bytes still allowed straight through
	tail  int   // the ring's size
	ring  []byte
	start int   // index of the oldest byte in ring once full
	full  bool  // ring has wrapped
	cut   int64 // bytes dropped between head and the kept tail
	err   error // first write error of w
}

func newCapWriter(w io.Writer, head, tail int) *capWriter {
	return &capWriter{w: w, head: int64(head), tail: tail}
}

// Write never fails for the caller (a command's output must keep flowing);
// the first error of the underlying writer is kept for Close.
func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if c.head > 0 {
		k := min(int64(len(p)), c.head)
		c.write(p[:k])
		c.head -= k
		p = p[k:]
	}
	if len(p) > 0 {
		c.keep(p)
	}
	return n, nil
}

func (c *capWriter) write(p []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(p)
	}
}

// keep appends p to the ring, counting what falls out of it as cut.
func (c *capWriter) keep(p []byte) {
	size := c.tail
	if size == 0 {
		c.cut += int64(len(p))
		return
	}
	if c.ring == nil {
		c.ring = make([]byte, 0, size)
	}
	if len(p) >= size {
		c.cut += int64(c.kept()) + int64(len(p)-size)
		c.ring = append(c.ring[:0], p[len(p)-size:]...)
		c.start, c.full = 0, true
		return
	}
	for len(p) > 0 {
		if !c.full {
			k := min(len(p), size-len(c.ring))
			c.ring = append(c.ring, p[:k]...)
			p = p[k:]
			if len(c.ring) == size {
				c.full = true
			}
			continue
		}
		k := copy(c.ring[c.start:], p)
		c.cut += int64(k)
		c.start = (c.start + k) % size
		p = p[k:]
	}
}

func (c *capWriter) kept() int { return len(c.ring) }

// Cut reports how many bytes were dropped so far.
func (c *capWriter) Cut() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// Flush writes the cut marker and the kept tail, and resets the ring so that
// the writer can go on. It returns the first error of the underlying writer.
func (c *capWriter) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut > 0 {
		c.write(fmt.Appendf(nil, "\n[... %d bytes cut ...]\n", c.cut))
	}
	if c.full {
		c.write(c.ring[c.start:])
		c.write(c.ring[:c.start])
	} else {
		c.write(c.ring)
	}
	c.ring, c.start, c.full, c.cut = c.ring[:0], 0, false, 0
	return c.err
}

// stampWriter starts every line written through it with a UTC timestamp.
type stampWriter struct {
	w       io.Writer
	midLine bool
}

func newStampWriter(w io.Writer) *stampWriter { return &stampWriter{w: w} }

func (s *stampWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if !s.midLine {
			if _, err := io.WriteString(s.w, stamp()+" "); err != nil {
				return 0, err
			}
			s.midLine = true
		}
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, s.midLine = p[:i+1], false
		}
		if _, err := s.w.Write(line); err != nil {
			return 0, err
		}
		p = p[len(line):]
	}
	return n, nil
}

// end finishes a last line that had no newline of its own.
func (s *stampWriter) end() {
	if s.midLine {
		_, _ = io.WriteString(s.w, "\n")
		s.midLine = false
	}
}
