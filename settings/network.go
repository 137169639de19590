package settings

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// HTTP holds the listener's timeouts against slow clients.
type HTTP struct {
	// ReadHeaderTimeout bounds reading a request's headers (default 5s): a
	// client that trickles them (slowloris) is disconnected at it.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included (default 60s).
	ReadTimeout time.Duration `koanf:"read_timeout"`
}

// TLS makes the listener serve HTTPS when both files are set. The pair is
// read again on every reload (SIGHUP), so a renewed certificate needs no
// restart.
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `koanf:"cert_file"`
	// KeyFile is the PEM private key of the leaf certificate.
	KeyFile string `koanf:"key_file"`
}

// Enabled reports whether the listener serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// CIDR is a network written 192.0.2.0/24 or 2001:db8::/32; a bare address
// (192.0.2.7) stands for that address alone.
type CIDR struct{ netip.Prefix }

// ParseCIDR parses a network or a bare address. The address bits past the
// prefix length must be zero, so that a mistyped 10.1.2.3/8 is an error
// rather than silently 10.0.0.0/8.
func ParseCIDR(s string) (CIDR, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return CIDR{}, fmt.Errorf("must be a network such as 192.0.2.0/24 or 2001:db8::/32, or an address (got %q)", s)
		}
		a = a.Unmap()
		return CIDR{netip.PrefixFrom(a, a.BitLen())}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return CIDR{}, fmt.Errorf("must be a network such as 192.0.2.0/24 or 2001:db8::/32, or an address (got %q)", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return CIDR{}, fmt.Errorf("has address bits set past the prefix length: did you mean %s? (got %q)", m, s)
	}
	return CIDR{p}, nil
}

// UnmarshalText implements encoding.TextUnmarshaler for the settings
// decoder. Empty text is the zero CIDR, which Validate reports.
func (c *CIDR) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = CIDR{}
		return nil
	}
	p, err := ParseCIDR(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (c CIDR) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Contains reports whether any of nets holds addr (an IPv4-mapped IPv6
// address counts as its IPv4 address).
func Contains(nets []CIDR, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range nets {
		if n.Prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// AllowFor returns the networks allowed to deliver to repo: its own allow
// list when it has one, else the global one. Empty means everyone.
func (s *Settings) AllowFor(repo *Repo) []CIDR {
	if repo != nil && len(repo.Allow) > 0 {
		return repo.Allow
	}
	return s.Allow
}

// checkNetwork checks http, tls, allow and trusted_proxies.
func (s *Settings) checkNetwork(ps *problems) {
	positive(ps, "http.read_header_timeout", s.HTTP.ReadHeaderTimeout)
	positive(ps, "http.read_timeout", s.HTTP.ReadTimeout)
	checkCIDRs(ps, "allow", s.Allow)
	checkCIDRs(ps, "trusted_proxies", s.TrustedProxies)
	t := s.TLS
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		ps.add("tls.key_file", "required with tls.cert_file")
	case t.CertFile == "" && t.KeyFile != "":
		ps.add("tls.cert_file", "required with tls.key_file")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			ps.add(f.key, "cannot be read: %s (got %q)", reason(err), f.path)
		}
	}
}

// checkCIDRs reports the zero networks left by the decoder for empty items.
// Items that did not parse were already reported by the decoder.
func checkCIDRs(ps *problems, path string, nets []CIDR) {
	for i, n := range nets {
		if !n.IsValid() {
			ps.add(fmt.Sprintf("%s[%d]", path, i), "must be a network such as 192.0.2.0/24 or 2001:db8::/32, or an address (got \"\")")
		}
	}
}

// resolveNetworkPaths makes the TLS files absolute against the settings folder.
func (s *Settings) resolveNetworkPaths() {
	dir := filepath.Dir(s.File)
	s.TLS.CertFile = resolve(dir, s.TLS.CertFile)
	s.TLS.KeyFile = resolve(dir, s.TLS.KeyFile)
}

// httpDefaults are the listener timeouts when the file sets none.
var httpDefaults = map[string]any{"read_header_timeout": "5s", "read_timeout": "60s"}

// cidrType lets the decoder's shape check pass a string on to CIDR's
// UnmarshalText instead of refusing it where a struct belongs.
var cidrType = reflect.TypeFor[CIDR]()
