package receiver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
)

// A push body is read by a reader that walks it once, checking that all of
// it is valid JSON while it takes the few members wh-gitd uses and skips
// the rest. encoding/json reads a body twice (checkValid, then the decode,
// which scans every skipped value again) through a state machine called
// for every byte: for a 7 KB GitHub push that was the largest part of the
// daemon's CPU under load (bench: BenchmarkDecodePush).
//
// The reader only takes the plain case. It gives up, and encoding/json
// decodes the body instead, so that every answer and error is still
// encoding/json's, when the body is not valid JSON, nests deeper than
// maxMemberDepth, has a top level other than an object, names a member
// wh-gitd uses with an escape or only case-insensitively (encoding/json
// matches keys case-insensitively), or holds a used member of another
// type than its field or a string with an escape or invalid UTF-8.

// maxMemberDepth is how deep the reader follows nested values; deeper
// bodies are left to encoding/json, which has its own limit.
const maxMemberDepth = 256

// member is one member of an object that is taken: into str, flag or raw
// (a value of any type, as its UnmarshalJSON is given it), or, for an
// object, its own members.
type member struct {
	name string
	str  *string
	flag *bool
	raw  json.Unmarshaler
	obj  []member
}

// decodeMembers decodes body into *p as json.Unmarshal does, taking only
// the members that members(p) names, which must be all the fields of T.
func decodeMembers[T any](body []byte, p *T, members func(*T) []member) error {
	if readMembers(body, members(p)) {
		return nil
	}
	var zero T
	*p = zero
	return unmarshal(body, p)
}

// readMembers reads body, an object, into ms; false means it gave up.
func readMembers(body []byte, ms []member) bool {
	s := memberScan{b: body}
	s.space()
	if s.peek() != '{' || !s.object(ms, 1) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// memberScan is a position in a body being read.
type memberScan struct {
	b []byte
	i int
}

func (s *memberScan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *memberScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads the object at s.i, taking the members of ms.
func (s *memberScan) object(ms []member, depth int) bool {
	s.i++ // {
	s.space()
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		key, escaped, ok := s.str()
		s.space()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		s.space()
		m, ok := lookUp(ms, key, escaped)
		switch {
		case !ok:
			return false
		case m == nil && !s.value(depth+1):
			return false
		case m != nil && !s.take(m, depth+1):
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

// next reads what follows a member or an element: a comma (more follow)
// or the closer of its object or array.
func (s *memberScan) next(closer byte) (more, ok bool) {
	s.space()
	switch s.peek() {
	case ',':
		s.i++
		s.space()
		return true, true
	case closer:
		s.i++
		return false, true
	}
	return false, false
}

// lookUp finds the member key names, nil for one that is skipped; false
// when encoding/json might match key to a member other than by its exact
// name (an escape, another case, a non-ASCII key that might fold).
func lookUp(ms []member, key []byte, escaped bool) (*member, bool) {
	if len(ms) == 0 {
		return nil, true
	}
	if escaped {
		return nil, false
	}
	for i := range ms {
		if string(key) == ms[i].name {
			return &ms[i], true
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return nil, false
		}
	}
	for i := range ms { // ASCII: only a key of the same length can fold
		if len(key) == len(ms[i].name) && bytes.EqualFold(key, []byte(ms[i].name)) {
			return nil, false
		}
	}
	return nil, true
}

// take reads the value of member m at s.i into its field.
func (s *memberScan) take(m *member, depth int) bool {
	if m.raw != nil {
		start := s.i
		return s.value(depth) && m.raw.UnmarshalJSON(s.b[start:s.i]) == nil
	}
	if s.literal("null") {
		return true // encoding/json leaves the field as it is
	}
	switch {
	case m.str != nil && s.peek() == '"':
		v, escaped, ok := s.str()
		if !ok || escaped || !utf8.Valid(v) {
			return false
		}
		*m.str = string(v)
		return true
	case m.flag != nil && s.literal("true"):
		*m.flag = true
		return true
	case m.flag != nil && s.literal("false"):
		*m.flag = false
		return true
	case m.obj != nil && s.peek() == '{':
		return depth <= maxMemberDepth && s.object(m.obj, depth)
	}
	return false
}

// value skips the value at s.i, checking it.
func (s *memberScan) value(depth int) bool {
	if depth > maxMemberDepth {
		return false
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(nil, depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return s.literal("true") || s.literal("false") || s.literal("null")
}

func (s *memberScan) array(depth int) bool {
	s.i++ // [
	s.space()
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(depth + 1) {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// str reads the string at s.i: its raw contents, and whether they hold
// an escape. Eight bytes at a time while none is a quote, a backslash or
// a control character.
func (s *memberScan) str() (v []byte, escaped, ok bool) {
	start := s.i + 1
	for i := start; ; i++ {
		for i+8 <= len(s.b) && plainWord(binary.LittleEndian.Uint64(s.b[i:])) {
			i += 8
		}
		if i >= len(s.b) {
			return nil, false, false
		}
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			n := escapeLen(s.b[i+1:])
			if n == 0 {
				return nil, false, false
			}
			escaped = true
			i += n
		}
	}
}

// plainWord reports whether none of the eight bytes of x is a quote, a
// backslash or below 0x20 (a byte b of x is below n when (b-n)&^b has
// its high bit set, for n up to 0x80).
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)&^x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs == 0
}

// escapeLen is the length of the escape that b starts with (after the
// backslash), 0 if it is none.
func escapeLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1
	case 'u':
		if len(b) < 5 {
			return 0
		}
		for _, c := range b[1:5] {
			if !isHex(c) {
				return 0
			}
		}
		return 5
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number reads a number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *memberScan) number() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		return s.digits()
	}
	return true
}

// digits reads one or more digits.
func (s *memberScan) digits() bool {
	start := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i > start
}

// literal reads lit if it is at s.i.
func (s *memberScan) literal(lit string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}
