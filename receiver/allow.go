package receiver

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/wh-gitd/wh-gitd/settings"
)

// maxForwardedHops bounds the X-Forwarded-For entries looked at: a client
// cannot make the daemon parse an arbitrarily long list.
const maxForwardedHops = 32

// clientAddr is the address a request comes from: the peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For entry that is not
// a trusted proxy itself (entries left of it were written by the client and
// prove nothing). The zero Addr means the client could not be told: an entry
// that does not parse, or more hops than maxForwardedHops.
func clientAddr(r *http.Request, trusted []settings.CIDR) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap().WithZone("") // a zoned address matches no network
	if !settings.Contains(trusted, addr) {
		return addr
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		if len(hops)-i > maxForwardedHops {
			return netip.Addr{}
		}
		a, ok := parseHop(hops[i])
		if !ok {
			return netip.Addr{}
		}
		addr = a
		if !settings.Contains(trusted, addr) {
			return addr
		}
	}
	return addr // every hop is a trusted proxy: the leftmost one sent it
}

// forwardedHops splits X-Forwarded-For header lines into entries, in order.
func forwardedHops(lines []string) []string {
	var hops []string
	for _, line := range lines {
		for _, h := range strings.Split(line, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// parseHop reads one entry: an address, or an address with a port (some
// proxies add it, as 192.0.2.1:4711 or [2001:db8::1]:4711).
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// allowed reports whether a delivery from addr may reach repo (nil: an
// unknown endpoint, judged by the global list).
func allowed(set *settings.Settings, repo *settings.Repo, addr netip.Addr) bool {
	nets := set.AllowFor(repo)
	return len(nets) == 0 || (addr.IsValid() && settings.Contains(nets, addr))
}
