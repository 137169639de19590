package jobstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// The intake log holds what a 202 promises before jobs.db does: each
// accepted job's queued record and raw delivery, appended to a segment file
// and synced with one fdatasync for every delivery that arrived together.
// jobs.db takes the record and the delivery id later, in a commit nobody
// waits for; its intake bucket says how far the log has been applied, and
// Open applies the rest. The body stays in the log: jobs.db keeps a
// reference to it, read when the job runs. Segments are zero-filled when
// made, so that appending never changes a file's size (fdatasync then
// writes no metadata), and a zero or torn header marks the end.

// logSegmentSize is the size of a new segment (larger for an entry that
// does not fit).
const logSegmentSize = 4 << 20

const (
	entryMagic  = 0x57484931 // "WHI1"
	entryHeader = 12         // magic, length, crc32c of what follows
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// logPos is a place in the intake log: a segment and an offset in it.
type logPos struct {
	seg uint64
	off int64
}

func (p logPos) less(q logPos) bool { return p.seg < q.seg || p.seg == q.seg && p.off < q.off }

func (p logPos) bytes() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, p.seg)
	binary.BigEndian.PutUint64(b[8:], uint64(p.off))
	return b
}

func parsePos(b []byte) (logPos, bool) {
	if len(b) != 16 {
		return logPos{}, false
	}
	return logPos{seg: binary.BigEndian.Uint64(b), off: int64(binary.BigEndian.Uint64(b[8:]))}, true
}

// payloadRef marks a payloads value that points into the intake log
// rather than holding the body (a body is JSON, never starting with 0).
const payloadRef = 0x00

func refValue(p logPos) []byte { return append([]byte{payloadRef}, p.bytes()...) }

// entryParts are what one intake log entry holds: the queued record
// (JSON), the outbox messages its acceptance planned (a JSON array, or
// nothing) and the delivery's body.
type entryParts struct {
	rec, msgs, body []byte
}

// maxSize is the most the entry of e takes in the log.
func (e entryParts) maxSize() int {
	return entryHeader + 2*binary.MaxVarintLen64 + len(e.rec) + len(e.msgs) + len(e.body)
}

// appendEntry appends the entry of e to b, framed: header (magic, size,
// CRC-32C), then the record and the messages each after its length, then
// the body.
func appendEntry(b []byte, e entryParts) []byte {
	start := len(b)
	b = append(b, make([]byte, entryHeader)...)
	b = binary.AppendUvarint(b, uint64(len(e.rec)))
	b = append(b, e.rec...)
	b = binary.AppendUvarint(b, uint64(len(e.msgs)))
	b = append(append(b, e.msgs...), e.body...)
	h := b[start:]
	binary.BigEndian.PutUint32(h, entryMagic)
	binary.BigEndian.PutUint32(h[4:], uint32(len(h)-entryHeader))
	binary.BigEndian.PutUint32(h[8:], crc32.Checksum(h[entryHeader:], crcTable))
	return b
}

// decodeEntry reads the entry at the start of b, and its length; ok is
// false at the end of the written part (zeros) and for a torn or damaged
// entry.
func decodeEntry(b []byte) (e entryParts, n int, ok bool) {
	if len(b) < entryHeader || binary.BigEndian.Uint32(b) != entryMagic {
		return e, 0, false
	}
	size := int(binary.BigEndian.Uint32(b[4:]))
	if size > len(b)-entryHeader {
		return e, 0, false
	}
	rest := b[entryHeader : entryHeader+size]
	if crc32.Checksum(rest, crcTable) != binary.BigEndian.Uint32(b[8:]) {
		return e, 0, false
	}
	if e.rec, rest, ok = lengthPrefixed(rest); !ok {
		return e, 0, false
	}
	if e.msgs, e.body, ok = lengthPrefixed(rest); !ok {
		return e, 0, false
	}
	return e, entryHeader + size, true
}

// lengthPrefixed splits b into the part its uvarint length prefix counts
// and the rest.
func lengthPrefixed(b []byte) (part, rest []byte, ok bool) {
	l, k := binary.Uvarint(b)
	if k <= 0 || l > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(l)], b[k+int(l):], true
}

// intakeLog is the segment being appended to; only the store's logger
// goroutine uses it.
type intakeLog struct {
	dir  string
	f    *os.File
	seg  uint64
	off  int64
	size int64
	next chan *os.File // the following segment, made ahead of time
	// preparing says whether next will receive a segment.
	preparing bool
	// current is the segment being appended to, for the store's tidying.
	current atomic.Uint64
}

func segmentName(dir string, seg uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%016x.log", seg))
}

// segments lists the intake log's segments in order.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read intake log: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if seg, err := strconv.ParseUint(name, 16, 64); ok && err == nil {
			out = append(out, seg)
		}
	}
	slices.Sort(out)
	return out, nil
}

// makeSegment creates segment seg, zero-filled to size and synced with its
// folder, so that writes into it need no metadata.
func makeSegment(dir string, seg uint64, size int64) (*os.File, error) {
	f, err := os.OpenFile(segmentName(dir, seg), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create intake log segment: %w", err)
	}
	zero := make([]byte, 256<<10)
	for off := int64(0); off < size && err == nil; off += int64(len(zero)) {
		_, err = f.WriteAt(zero[:min(int64(len(zero)), size-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create intake log segment: %w", err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// firstSegmentSize is the size of a process's first segment: a
// wh-git-trigger that accepts one job makes no more than that. Each later
// segment is twice the one before, up to logSegmentSize.
const firstSegmentSize = 64 << 10

// openLog prepares appending to segments from seg on; the first one is
// made at the first append.
func openLog(dir string, seg uint64) *intakeLog {
	l := &intakeLog{dir: dir, seg: seg - 1, next: make(chan *os.File, 1)}
	l.current.Store(seg)
	return l
}

// prepare makes the next segment, of size, in the background; a failure
// is found again, and reported, when the segment is needed.
func (l *intakeLog) prepare(size int64) {
	l.preparing = true
	go func(seg uint64) {
		f, err := makeSegment(l.dir, seg, size)
		if err != nil {
			f = nil
		}
		l.next <- f
	}(l.seg + 1)
}

// roll moves to the next segment, one that holds at least n bytes.
func (l *intakeLog) roll(n int64) error {
	size := min(max(2*l.size, firstSegmentSize), logSegmentSize)
	var f *os.File
	if l.preparing {
		f, l.preparing = <-l.next, false
	}
	seg := l.seg + 1
	if f != nil && n > size {
		f.Close()
		os.Remove(f.Name())
		f = nil
	}
	if f == nil {
		var err error
		if f, err = makeSegment(l.dir, seg, max(n, size)); err != nil {
			return err
		}
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.seg, l.off, l.size = f, seg, 0, max(n, size)
	l.current.Store(seg)
	return nil
}

// append writes b (entries) and syncs it, returning where it starts.
func (l *intakeLog) append(b []byte) (logPos, error) {
	if l.f == nil || l.off+int64(len(b)) > l.size {
		if err := l.roll(int64(len(b))); err != nil {
			return logPos{}, err
		}
	}
	at := logPos{seg: l.seg, off: l.off}
	if _, err := l.f.WriteAt(b, l.off); err != nil {
		return logPos{}, fmt.Errorf("write intake log: %w", err)
	}
	// Past this point the bytes may be on disk: never write over them.
	l.off += int64(len(b))
	if !l.preparing && l.off > l.size/2 {
		l.prepare(min(2*l.size, logSegmentSize)) // a process that accepts one job makes one segment
	}
	if err := datasync(l.f); err != nil {
		return logPos{}, fmt.Errorf("sync intake log: %w", err)
	}
	return at, nil
}

// close closes the segment and removes the one made ahead, unused.
func (l *intakeLog) close() {
	if l.f != nil {
		l.f.Close()
	}
	if !l.preparing {
		return
	}
	if f := <-l.next; f != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

// readEntry reads the entry at p.
func readEntry(dir string, p logPos) (entryParts, error) {
	f, err := os.Open(segmentName(dir, p.seg))
	if errors.Is(err, fs.ErrNotExist) {
		return entryParts{}, nil // its job ended and the segment is gone
	}
	if err != nil {
		return entryParts{}, fmt.Errorf("read intake log: %w", err)
	}
	defer f.Close()
	e, _, ok := entryAt(f, p.off)
	if !ok {
		return e, fmt.Errorf("read intake log: entry at %x:%d is damaged", p.seg, p.off)
	}
	return e, nil
}

// entryAt reads the entry at off of segment f; ok is false at the end of
// what was written and for a torn entry.
func entryAt(f *os.File, off int64) (e entryParts, n int, ok bool) {
	var h [entryHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil || binary.BigEndian.Uint32(h[:]) != entryMagic {
		return e, 0, false
	}
	size := int64(binary.BigEndian.Uint32(h[4:]))
	if fi, err := f.Stat(); err != nil || off+entryHeader+size > fi.Size() {
		return e, 0, false
	}
	b := make([]byte, entryHeader+size)
	if _, err := f.ReadAt(b, off); err != nil {
		return e, 0, false
	}
	return decodeEntry(b)
}

// logEntry is one entry read back from the log.
type logEntry struct {
	at, end logPos
	entryParts
}

// readFrom returns the entries of the log from p on, each segment up to
// its first zero or torn header.
func readFrom(dir string, p logPos) ([]logEntry, error) {
	segs, err := segments(dir)
	if err != nil {
		return nil, err
	}
	var out []logEntry
	for _, seg := range segs {
		if seg < p.seg {
			continue
		}
		f, err := os.Open(segmentName(dir, seg))
		if err != nil {
			return nil, fmt.Errorf("read intake log: %w", err)
		}
		off := int64(0)
		if seg == p.seg {
			off = p.off
		}
		for {
			e, n, ok := entryAt(f, off)
			if !ok {
				break
			}
			out = append(out, logEntry{at: logPos{seg, off}, end: logPos{seg, off + int64(n)}, entryParts: e})
			off += int64(n)
		}
		f.Close()
	}
	return out, nil
}
