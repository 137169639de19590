package ui

import (
	"strings"
	"testing"
	"time"
)

// A log is cleaned into plain text however it is cut into pieces: terminal
// sequences go, carriage returns become newlines, other control characters
// show as their pictures, and markup stays text (the page escapes it).
func TestLogCleaner(t *testing.T) {
	cases := []struct {
		name   string
		pieces []string
		want   string
	}{
		{"plain", []string{"hello\n"}, "hello\n"},
		{"markup stays text", []string{"<script>alert(1)</script>\n"}, "<script>alert(1)</script>\n"},
		{"colours", []string{"\x1b[1;32mok\x1b[0m done\n"}, "ok done\n"},
		{"colour cut between pieces", []string{"a\x1b[3", "1mred\x1b", "[0m\n"}, "ared\n"},
		{"title", []string{"\x1b]0;my title\x07x\n"}, "x\n"},
		{"link", []string{"\x1b]8;;http://x\x1b\\text\x1b]8;;\x1b\\\n"}, "text\n"},
		{"charset", []string{"\x1b(Bx\n"}, "x\n"},
		{"crlf", []string{"a\r\nb\r\n"}, "a\nb\n"},
		{"crlf cut", []string{"a\r", "\nb"}, "a\nb"},
		{"progress", []string{"10%\r50%\r100%\n"}, "10%\n50%\n100%\n"},
		{"controls", []string{"a\x00b\x07c\x7f\n"}, "a␀b␇c␡\n"},
		{"lone escape at the end", []string{"a\x1b"}, "a␛"},
		{"lone escape, then more", []string{"a\x1b\n", "b"}, "a␛\nb"},
		{"title cut", []string{"\x1b]0;ti", "tle\x1b", "\\x"}, "x"},
		{"tab kept", []string{"a\tb\n"}, "a\tb\n"},
		{"rune cut", []string{"caf\xc3", "\xa9\n"}, "café\n"},
		{"invalid", []string{"a\xffb\n"}, "a\uFFFDb\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var lc logCleaner
			var got strings.Builder
			for _, p := range tc.pieces {
				got.WriteString(lc.clean([]byte(p), false))
			}
			got.WriteString(lc.clean(nil, true))
			if got.String() != tc.want {
				t.Errorf("got %q, want %q", got.String(), tc.want)
			}
		})
	}
}

// The live log skips what the page already shows, sends each piece as one
// message whose lines are data lines, and names the offset after it.
func TestSSEWriter(t *testing.T) {
	var b strings.Builder
	sw := &sseWriter{w: &b, skip: 4}
	for _, p := range []string{"ab", "cd\x1b[32mef\n", "g\x1b[", "0mh"} {
		if n, err := sw.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("write %q: %d %v", p, n, err)
		}
	}
	if err := sw.send(sw.lc.clean(nil, true)); err != nil {
		t.Fatal(err)
	}
	want := "id: 12\ndata: ef\ndata: \n\n" + "id: 13\ndata: g\n\n" + "id: 18\ndata: h\n\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

// Five wrong logins from one address within a minute make it wait for the
// rest of the minute; other addresses are not held up, and past the bound
// of addresses all new ones share one count.
func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(loginFailures, loginWindow)
	for i := range loginFailures {
		if w := l.wait("a", now); w != 0 {
			t.Fatalf("attempt %d must wait %s", i+1, w)
		}
		l.fail("a", now)
	}
	if w := l.wait("a", now.Add(10*time.Second)); w != 50*time.Second {
		t.Errorf("after %d failures: wait %s, want 50s", loginFailures, w)
	}
	if w := l.wait("b", now); w != 0 {
		t.Errorf("another address waits %s", w)
	}
	if w := l.wait("a", now.Add(loginWindow)); w != 0 {
		t.Errorf("after the window: wait %s", w)
	}
	full := newLimiter(1, loginWindow)
	for i := range maxStrikes {
		full.fail(strings.Repeat("x", i+1), now)
	}
	full.fail("new", now)
	if w := full.wait("newer", now); w == 0 || len(full.m) > maxStrikes+1 {
		t.Errorf("past the bound: wait %s with %d addresses counted", w, len(full.m))
	}
}

// Sessions are bounded (the one closest to expiring goes first), expire,
// and end when the secret they logged in with is no longer the one.
func TestSessions(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	cred := credential("secret-one-0123456789")
	s := newSessions(2)
	a := s.create(time.Hour, cred, now)
	b := s.create(2*time.Hour, cred, now)
	c := s.create(3*time.Hour, cred, now)
	cases := []struct {
		name string
		id   string
		cred [32]byte
		at   time.Time
		live bool
	}{
		{"evicted, closest to expiring", a.id, cred, now, false},
		{"live", b.id, cred, now, true},
		{"other secret", c.id, credential("secret-two-0123456789"), now, false},
		{"ended by the other secret", c.id, cred, now, false},
		{"expired", b.id, cred, now.Add(2 * time.Hour), false},
		{"unknown", "nope", cred, now, false},
	}
	for _, tc := range cases {
		if got := s.get(tc.id, tc.cred, tc.at) != nil; got != tc.live {
			t.Errorf("%s: live %v, want %v", tc.name, got, tc.live)
		}
	}
	if a.csrf == a.id || len(a.id) != 64 || a.csrf == b.csrf {
		t.Errorf("session ids and CSRF tokens must be distinct and random: %+v %+v", a, b)
	}
}

// After the login the page goes only to a path of this site.
func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/jobs?state=failed": "/jobs?state=failed", "": "/", "//evil.example/": "/",
		"https://evil.example/": "/", "/\\evil.example": "/", "/a\r\nSet-Cookie: x": "/", "jobs": "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
