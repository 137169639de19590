package receiver

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/settings"
)

// A push's ref and commits, however odd, either make a push event whose
// branch is exactly the ref after refs/heads/ and whose commit is a full
// SHA, or are ignored, or are an error; never a panic.
func FuzzPushRef(f *testing.F) {
	sha := strings.Repeat("ab", 20)
	for _, ref := range []string{"refs/heads/main", "refs/heads/feature/x", "refs/tags/v1", "refs/heads/",
		"refs/heads/x$(touch C)", "main", "", "refs/heads/../../etc", "refs/heads/\x00"} {
		f.Add(ref, strings.Repeat("0", 40), sha, false)
	}
	f.Add("refs/heads/main", sha, strings.Repeat("0", 40), false)
	f.Add("refs/heads/main", sha, sha[:7], true)
	f.Fuzz(func(t *testing.T, ref, before, after string, deleted bool) {
		var ev event
		err := ev.push(ref, before, after, deleted)
		switch {
		case err != nil:
			if ev.kind != "" {
				t.Fatalf("error %v with kind %q", err, ev.kind)
			}
		case ev.kind == "push":
			if ev.ref != ref || "refs/heads/"+ev.branch != ref || !shaRE.MatchString(ev.sha) || ev.sha != after {
				t.Fatalf("push %+v from ref %q after %q", ev, ref, after)
			}
			if deleted || zeroSHARE.MatchString(after) {
				t.Fatalf("a deletion became a push: %+v", ev)
			}
		case ev.ignore == "":
			t.Fatalf("neither a push, an error nor ignored: %+v", ev)
		}
	})
}

// clientAddr never panics, and believes X-Forwarded-For only from a
// trusted peer: for any other peer it is the peer's address.
func FuzzClientAddr(f *testing.F) {
	trusted := []settings.CIDR{}
	for _, s := range []string{"127.0.0.0/8", "10.0.0.0/8", "::1"} {
		c, _ := settings.ParseCIDR(s)
		trusted = append(trusted, c)
	}
	f.Add("127.0.0.1:1", "192.0.2.1, 10.0.0.1")
	f.Add("[::1]:1", "[2001:db8::1]:80,garbage")
	f.Add("203.0.113.9:1", "127.0.0.1")
	f.Add("[::ffff:127.0.0.1]:5", " , ,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("POST", "/hooks/x", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := clientAddr(r, trusted)
		peer, err := netip.ParseAddrPort(remote)
		if err != nil {
			if got.IsValid() {
				t.Fatalf("unparseable peer %q gave %v", remote, got)
			}
			return
		}
		if p := peer.Addr().Unmap().WithZone(""); !settings.Contains(trusted, p) && got != p {
			t.Fatalf("untrusted peer %q: got %v from X-Forwarded-For %q", remote, got, xff)
		}
		if got.IsValid() && got.Zone() != "" {
			t.Fatalf("address with a zone: %v", got)
		}
	})
}

// The Gogs deliveries in testdata carry the signature a real Gogs server
// computed with the secret gogs-secret: verify accepts each as sent, and
// refuses it under another secret.
func TestCapturedGogsSignature(t *testing.T) {
	files, err := filepath.Glob("testdata/gogs/*.headers")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured deliveries: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				h.Set(k, v)
			}
		}
		body, err := os.ReadFile(strings.TrimSuffix(file, ".headers") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if reason, ok := verify(settings.Gogs, "gogs-secret", h, body); !ok {
			t.Errorf("%s: %s", file, reason)
		}
		if _, ok := verify(settings.Gogs, "another-secret", h, body); ok {
			t.Errorf("%s: verified under a wrong secret", file)
		}
	}
}
