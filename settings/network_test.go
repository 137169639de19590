package settings_test

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/settings"
)

func TestNetworkDefaults(t *testing.T) {
	s, _ := mustLoad(t, base)
	if s.HTTP.ReadHeaderTimeout != 5*time.Second || s.HTTP.ReadTimeout != 60*time.Second {
		t.Errorf("http = %+v, want 5s and 60s", s.HTTP)
	}
	if s.TLS.Enabled() || len(s.Allow) != 0 || len(s.TrustedProxies) != 0 {
		t.Errorf("tls %+v, allow %v, trusted_proxies %v: want none", s.TLS, s.Allow, s.TrustedProxies)
	}
	if got := s.AllowFor(s.Repos["site"]); len(got) != 0 {
		t.Errorf("AllowFor = %v, want everyone", got)
	}
}

func TestNetworkSettings(t *testing.T) {
	dir := write(t, map[string]string{"tls/cert.pem": "x", "tls/key.pem": "y"})
	yaml := "http: {read_header_timeout: 2s, read_timeout: 3s}\n" +
		"tls: {cert_file: " + dir + "/tls/cert.pem, key_file: " + dir + "/tls/key.pem}\n" +
		"allow: [192.30.252.0/22, '2606:50c0::/32', 203.0.113.7]\n" +
		"trusted_proxies: [127.0.0.1, '::1']\n" + base + "    allow: [10.0.0.0/8]\n"
	s, _ := mustLoad(t, yaml, "WH_GITD_HTTP__READ_TIMEOUT=4s")
	if s.HTTP.ReadHeaderTimeout != 2*time.Second || s.HTTP.ReadTimeout != 4*time.Second {
		t.Errorf("http = %+v", s.HTTP)
	}
	if !s.TLS.Enabled() || s.TLS.CertFile != filepath.Join(dir, "tls/cert.pem") {
		t.Errorf("tls = %+v", s.TLS)
	}
	want := []string{"192.30.252.0/22", "2606:50c0::/32", "203.0.113.7/32"}
	if len(s.Allow) != len(want) {
		t.Fatalf("allow = %v", s.Allow)
	}
	for i, w := range want {
		if s.Allow[i].String() != w {
			t.Errorf("allow[%d] = %s, want %s", i, s.Allow[i], w)
		}
	}
	site := s.Repos["site"]
	cases := []struct {
		name string
		nets []settings.CIDR
		addr string
		in   bool
	}{
		{"entry's own list replaces the global one", s.AllowFor(site), "10.1.2.3", true},
		{"global network not allowed for the entry", s.AllowFor(site), "192.30.252.1", false},
		{"global network", s.Allow, "192.30.253.9", true},
		{"IPv4-mapped IPv6 counts as IPv4", s.Allow, "::ffff:203.0.113.7", true},
		{"bare address is that address only", s.Allow, "203.0.113.8", false},
		{"IPv6 network", s.Allow, "2606:50c0:8000::154", true},
		{"trusted proxy", s.TrustedProxies, "::1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := settings.Contains(tc.nets, netip.MustParseAddr(tc.addr)); got != tc.in {
				t.Errorf("Contains(%v, %s) = %v, want %v", tc.nets, tc.addr, got, tc.in)
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"not a network", "allow: [192.0.2.0/24, github]\n" + base,
			[]string{`allow[1]: must be a network such as 192.0.2.0/24 or 2001:db8::/32, or an address (got "github")`}},
		{"host bits set", "trusted_proxies: [10.1.2.3/8]\n" + base,
			[]string{`trusted_proxies[0]: has address bits set past the prefix length: did you mean 10.0.0.0/8? (got "10.1.2.3/8")`}},
		{"prefix too long", "allow: [192.0.2.0/33]\n" + base, []string{`allow[0]: must be a network`}},
		{"empty item", "allow: ['']\n" + base, []string{`allow[0]: must be a network`}},
		{"entry's list", base + "    allow: [10.0.0.0/8, 'fe80::1%eth0']\n",
			[]string{`repos.site.allow[1]: must be a network`}},
		{"a mapping for a list", "allow: {a: b}\n" + base, []string{"allow: must be a list (got a mapping)"}},
		{"cert without key", "tls: {cert_file: /etc/hostname}\n" + base,
			[]string{"tls.key_file: required with tls.cert_file"}},
		{"key without cert", "tls: {key_file: /etc/hostname}\n" + base,
			[]string{"tls.cert_file: required with tls.key_file"}},
		{"unreadable cert", "tls: {cert_file: nope.pem, key_file: /etc/hostname}\n" + base,
			[]string{`tls.cert_file: cannot be read: no such file or directory (got "/`}},
		{"unknown tls key", "tls: {cert: x}\n" + base, []string{"tls.cert: unknown key"}},
		{"zero timeout", "http: {read_header_timeout: 0s}\n" + base,
			[]string{"http.read_header_timeout: must be positive (got 0s)"}},
		{"all at once", "allow: [x]\ntrusted_proxies: [y]\nhttp: {read_timeout: -1s}\n" + base,
			[]string{"allow[0]:", "trusted_proxies[0]:", "http.read_timeout: must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.yaml)
			assertErr(t, err, tt.want)
			if n := strings.Count(err.Error(), "\n"); n > len(tt.want) {
				t.Errorf("%d lines for %d problems:\n%v", n, len(tt.want), err)
			}
		})
	}
}
