package receiver

import (
	"bytes"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/settings"
)

func cidrs(t *testing.T, ss ...string) []settings.CIDR {
	t.Helper()
	var out []settings.CIDR
	for _, s := range ss {
		c, err := settings.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func TestClientAddr(t *testing.T) {
	trusted := cidrs(t, "127.0.0.1", "10.0.0.0/8", "::1")
	cases := []struct {
		name   string
		remote string
		xff    []string
		want   string // "" is the zero Addr: client unknown
	}{
		{"untrusted peer, header ignored", "203.0.113.9:4000", []string{"192.30.252.1"}, "203.0.113.9"},
		{"trusted peer, no header", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"trusted peer, one hop", "127.0.0.1:4000", []string{"192.30.252.1"}, "192.30.252.1"},
		{"rightmost untrusted hop wins over a forged left part", "127.0.0.1:4000",
			[]string{"192.30.252.1, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops are skipped", "127.0.0.1:4000", []string{"198.51.100.7, 10.1.1.1", "10.2.2.2"}, "198.51.100.7"},
		{"every hop trusted: the leftmost", "127.0.0.1:4000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"hop with a port", "127.0.0.1:4000", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"IPv6 hop with a port", "[::1]:4000", []string{"[2001:db8::7]:5555"}, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:127.0.0.1]:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"garbage hop: unknown", "127.0.0.1:4000", []string{"198.51.100.7, evil"}, ""},
		{"garbage left of the client is not read", "127.0.0.1:4000", []string{"evil, 198.51.100.7"}, "198.51.100.7"},
		{"empty entries are skipped", "127.0.0.1:4000", []string{" , 198.51.100.7,"}, "198.51.100.7"},
		{"zone is refused", "127.0.0.1:4000", []string{"fe80::1%eth0"}, ""},
		{"too many trusted hops", "127.0.0.1:4000", []string{strings.Repeat("10.0.0.1,", 40) + "10.0.0.2"}, ""},
		{"unparseable peer", "@", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hooks/x", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := clientAddr(r, trusted)
			if (tc.want == "" && got.IsValid()) || (tc.want != "" && got != netip.MustParseAddr(tc.want)) {
				t.Errorf("clientAddr = %v, want %q", got, tc.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	set := &settings.Settings{Allow: cidrs(t, "192.30.252.0/22")}
	own := &settings.Repo{Allow: cidrs(t, "10.0.0.0/8")}
	cases := []struct {
		name string
		set  *settings.Settings
		repo *settings.Repo
		addr string
		want bool
	}{
		{"no list: anyone", &settings.Settings{}, nil, "203.0.113.1", true},
		{"no list: even an unknown client", &settings.Settings{}, nil, "", true},
		{"global list", set, &settings.Repo{}, "192.30.253.1", true},
		{"outside the global list", set, &settings.Repo{}, "203.0.113.1", false},
		{"unknown endpoint uses the global list", set, nil, "203.0.113.1", false},
		{"entry's list replaces the global one", set, own, "10.9.9.9", true},
		{"global network refused by the entry's list", set, own, "192.30.253.1", false},
		{"unknown client with a list", set, &settings.Repo{}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a netip.Addr
			if tc.addr != "" {
				a = netip.MustParseAddr(tc.addr)
			}
			if got := allowed(tc.set, tc.repo, a); got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

// fakeClock drives a refusalLog: now and the timers it schedules.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []func()
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) after(_ time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, f)
}
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	fs := c.timers
	c.timers = nil
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func TestRefusalLog(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newRefusalLog(zerolog.New(&buf))
	l.now, l.after = clock.now, clock.after
	count := func(key string, n int) (logged int) {
		for range n {
			if l.admit(key) {
				logged++
			}
		}
		return logged
	}
	steps := []struct {
		name        string
		do          func() int
		wantLogged  int
		wantSummary string // a summary line written by this step
	}{
		{"first minute: five of a thousand logged", func() int { return count("gh", 1000) }, 5, ""},
		{"another endpoint has its own share", func() int { return count("gl", 3) }, 3, ""},
		{"the window ends: one summary", func() int { clock.advance(time.Minute); return 0 }, 0, `"count":995`},
		{"next minute: five again", func() int { return count("gh", 7) }, 5, ""},
		{"a refusal after the window writes the due summary", func() int {
			clock.mu.Lock()
			clock.t = clock.t.Add(61 * time.Second) // the timer has not run yet
			clock.mu.Unlock()
			return count("gh", 1)
		}, 1, `"count":2`},
	}
	for _, s := range steps {
		before := buf.Len()
		if got := s.do(); got != s.wantLogged {
			t.Fatalf("%s: %d logged in full, want %d", s.name, got, s.wantLogged)
		}
		out := buf.String()[before:]
		if (s.wantSummary == "") != (out == "") || !strings.Contains(out, s.wantSummary) {
			t.Fatalf("%s: log %q, want a summary with %q", s.name, out, s.wantSummary)
		}
	}
	clock.advance(time.Minute) // the stale timer of the replaced window writes nothing
	if strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("want exactly two summary lines:\n%s", buf.String())
	}
}
