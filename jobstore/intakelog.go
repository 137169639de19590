package jobstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
//
// A full-sized segment this process made is used again, renamed, once
// nothing needs it: under a flood of deliveries, zero-filling new segments
// (and writing those zeros to disk) cost more than appending to them. Each
// entry's checksum covers the number of the segment it was written for, so
// what a reused segment held before is never read as an entry of its new
// number: reading stops at the first entry that is not its own.

// logSegmentSize is the size of a new segment (larger for an entry that
// does not fit).
const logSegmentSize = 4 << 20

const (
	entryMagic  = 0x57484932 // "WHI2": the checksum covers the segment's number
	entryMagic1 = 0x57484931 // "WHI1", read for logs written before segments were reused
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

// entrySum is the checksum of an entry's content in segment seg.
func entrySum(seg uint64, content []byte) uint32 {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seg)
	return crc32.Update(crc32.Checksum(n[:], crcTable), crcTable, content)
}

// appendEntry appends the entry of e, for segment seg, to b, framed: header
// (magic, size, CRC-32C of the segment's number and what follows), then the
// record and the messages each after its length, then the body.
func appendEntry(b []byte, seg uint64, e entryParts) []byte {
	start := len(b)
	b = append(b, make([]byte, entryHeader)...)
	b = binary.AppendUvarint(b, uint64(len(e.rec)))
	b = append(b, e.rec...)
	b = binary.AppendUvarint(b, uint64(len(e.msgs)))
	b = append(append(b, e.msgs...), e.body...)
	h := b[start:]
	binary.BigEndian.PutUint32(h, entryMagic)
	binary.BigEndian.PutUint32(h[4:], uint32(len(h)-entryHeader))
	binary.BigEndian.PutUint32(h[8:], entrySum(seg, h[entryHeader:]))
	return b
}

// decodeEntry reads the entry at the start of b, in segment seg, and its
// length; ok is false at the end of the written part (zeros), for a torn or
// damaged entry, and for one written for another segment (what a reused
// segment held before).
func decodeEntry(b []byte, seg uint64) (e entryParts, n int, ok bool) {
	if len(b) < entryHeader {
		return e, 0, false
	}
	magic := binary.BigEndian.Uint32(b)
	if magic != entryMagic && magic != entryMagic1 {
		return e, 0, false
	}
	size := int(binary.BigEndian.Uint32(b[4:]))
	if size > len(b)-entryHeader {
		return e, 0, false
	}
	rest := b[entryHeader : entryHeader+size]
	sum := crc32.Checksum(rest, crcTable)
	if magic == entryMagic {
		sum = entrySum(seg, rest)
	}
	if sum != binary.BigEndian.Uint32(b[8:]) {
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
	// free tells which segments nothing needs any more: those before
	// before that are not live.
	free func() (before uint64, live map[uint64]bool)
	// mu guards own, and is held while a segment is removed or reused.
	mu sync.Mutex
	// own is the segments this process made, whole in this format, by
	// size: the only ones it uses again.
	own map[uint64]int64
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
func openLog(dir string, seg uint64, free func() (uint64, map[uint64]bool)) *intakeLog {
	l := &intakeLog{dir: dir, seg: seg - 1, next: make(chan *os.File, 1), free: free, own: map[uint64]int64{}}
	l.current.Store(seg)
	return l
}

// prepare makes the next segment, of size, in the background, from one
// that nothing needs any more if it can; a failure is found again, and
// reported, when the segment is needed.
func (l *intakeLog) prepare(size int64) {
	l.preparing = true
	go func(seg uint64) {
		f := l.reuse(seg, size)
		if f == nil {
			f, _ = l.make(seg, size)
		}
		l.next <- f
	}(l.seg + 1)
}

// make makes segment seg, zero-filled to size.
func (l *intakeLog) make(seg uint64, size int64) (*os.File, error) {
	f, err := makeSegment(l.dir, seg, size)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.own[seg] = size
	return f, nil
}

// reuse renames to seg the oldest segment of size that this process made
// and nothing needs any more, and returns it open; nil if there is none.
func (l *intakeLog) reuse(seg uint64, size int64) *os.File {
	before, live := l.free()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, old := range slices.Sorted(maps.Keys(l.own)) {
		if old >= before || live[old] || l.own[old] != size {
			continue
		}
		delete(l.own, old)
		to := segmentName(l.dir, seg)
		if err := os.Rename(segmentName(l.dir, old), to); err != nil {
			continue
		}
		f, err := os.OpenFile(to, os.O_RDWR, 0)
		if err == nil {
			err = syncDir(l.dir)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			os.Remove(to)
			return nil
		}
		l.own[seg] = size
		return f
	}
	return nil
}

// remove removes segment seg, which nothing needs any more.
func (l *intakeLog) remove(seg uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.own, seg)
	err := os.Remove(segmentName(l.dir, seg))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
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
		if f, err = l.make(seg, max(n, size)); err != nil {
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

// room makes the segment appended to one with n bytes free, and returns
// its number, which the entries appended next are framed for.
func (l *intakeLog) room(n int64) (uint64, error) {
	if l.f == nil || l.off+n > l.size {
		if err := l.roll(n); err != nil {
			return 0, err
		}
	}
	return l.seg, nil
}

// append writes b (entries framed for the segment room returned, and no
// longer than the room it asked for) and syncs it, returning where it
// starts.
func (l *intakeLog) append(b []byte) (logPos, error) {
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
	name := segmentName(dir, p.seg)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return entryParts{}, nil // its job ended and the segment is gone
	}
	if err != nil {
		return entryParts{}, fmt.Errorf("read intake log: %w", err)
	}
	defer f.Close()
	return entryIn(f, name, p)
}

// entryIn reads the entry at p from f, opened as name.
func entryIn(f *os.File, name string, p logPos) (entryParts, error) {
	e, _, ok := entryAt(f, p.off, p.seg)
	if ok {
		return e, nil
	}
	if fi, err := f.Stat(); err == nil {
		if now, err := os.Stat(name); errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(fi, now) {
			return entryParts{}, nil // its job ended and the segment went, reused, while it was read
		}
	}
	return e, fmt.Errorf("read intake log: entry at %x:%d is damaged", p.seg, p.off)
}

// entryAt reads the entry at off of segment seg, open as f; ok is false at
// the end of what was written and for a torn entry.
func entryAt(f *os.File, off int64, seg uint64) (e entryParts, n int, ok bool) {
	var h [entryHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return e, 0, false
	}
	if magic := binary.BigEndian.Uint32(h[:]); magic != entryMagic && magic != entryMagic1 {
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
	return decodeEntry(b, seg)
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
			e, n, ok := entryAt(f, off, seg)
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
