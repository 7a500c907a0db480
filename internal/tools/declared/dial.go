package declared

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// blockedRange is an address range http tools refuse unless allowed.
type blockedRange struct {
	prefix netip.Prefix
	what   string
}

// blockedRanges are the targets an http tool refuses by default: the
// host itself, link-local and cloud metadata services, the tailnet, and
// addresses that are not one host. Private (RFC 1918, fc00::/7) ranges
// are allowed: internal APIs live there. More specific ranges come
// first, so that they name the address best.
var blockedRanges = func() []blockedRange {
	r := func(p, what string) blockedRange { return blockedRange{netip.MustParsePrefix(p), what} }
	return []blockedRange{
		r("0.0.0.0/8", "unspecified"), // 0.0.0.0 reaches the local host
		r("127.0.0.0/8", "loopback"),
		r("169.254.169.254/32", "cloud metadata"),
		r("169.254.0.0/16", "link-local"),
		r("100.100.100.200/32", "cloud metadata"), // Alibaba; also in the tailnet range
		r("100.64.0.0/10", "tailnet (CGNAT)"),
		r("224.0.0.0/4", "multicast"),
		r("240.0.0.0/4", "reserved"), // and 255.255.255.255, broadcast
		r("::/128", "unspecified"),
		r("::1/128", "loopback"),
		r("::/96", "IPv4-compatible"), // deprecated; never a real target
		r("fe80::/10", "link-local"),
		r("fd00:ec2::254/128", "cloud metadata"),
		r("fd7a:115c:a1e0::/48", "tailnet (Tailscale IPv6)"),
		r("ff00::/8", "multicast"),
	}
}()

// blockedError is a dial refused by the guard. It names the host and the
// address, which come from the config or from a redirect, never from
// arguments (the host is fixed; params cannot reach it).
type blockedError struct {
	host string
	addr netip.Addr
	what string
}

func (e *blockedError) Error() string {
	return fmt.Sprintf("%s resolves to %s, a %s address not in allow_hosts", e.host, e.addr, e.what)
}

// guard dials for an http tool, refusing blocked addresses. It resolves
// the host itself, checks every address it resolves to (one blocked
// address refuses them all, so DNS cannot mix a public answer with an
// internal one), dials only the checked addresses, and checks again in
// the socket's Control hook. Every connection, redirects included, goes
// through it, and a name is resolved for each connection, so DNS
// rebinding gains nothing.
type guard struct {
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	names   map[string]bool // allowed host names, lower case, no trailing dot
	allowed []netip.Prefix  // allowed addresses and prefixes
}

func newGuard(allowHosts []string, lookup func(context.Context, string) ([]netip.Addr, error)) (*guard, error) {
	g := &guard{lookup: lookup, names: map[string]bool{}}
	for i, h := range allowHosts {
		if a, err := netip.ParseAddr(h); err == nil {
			a = a.WithZone("").Unmap()
			g.allowed = append(g.allowed, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if p, err := netip.ParsePrefix(h); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			g.allowed = append(g.allowed, p.Masked())
			continue
		}
		name := normalizeHost(h)
		if name == "" || strings.ContainsAny(name, "/ :[]") {
			return nil, fmt.Errorf("allow_hosts[%d]: %q is not a host name, IP address or CIDR prefix", i, h)
		}
		g.names[name] = true
	}
	return g, nil
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// check returns a *blockedError when a may not be dialled for host.
func (g *guard) check(host string, a netip.Addr) error {
	a = a.WithZone("").Unmap()
	for _, p := range g.allowed {
		if p.Contains(a) {
			return nil
		}
	}
	cands := []netip.Addr{a}
	if v4, ok := embeddedIPv4(a); ok {
		cands = append(cands, v4)
	}
	for _, c := range cands {
		for _, r := range blockedRanges {
			if r.prefix.Contains(c) {
				return &blockedError{host: host, addr: a, what: r.what}
			}
		}
	}
	return nil
}

// Prefixes whose addresses carry an IPv4 address a gateway connects to.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address inside a NAT64 (64:ff9b::/96,
// 64:ff9b:1::/48) or 6to4 (2002::/16) address: a gateway would carry
// the connection to it.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), nat64Local.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// dialTimeout bounds one TCP connect (the call's own timeout bounds the
// whole request).
const dialTimeout = 10 * time.Second

// DialContext is the http.Transport dialer of one http tool.
func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", portStr)
	}
	nameAllowed := g.names[normalizeHost(host)]
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = g.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%s has no addresses", host)
		}
	}
	if !nameAllowed {
		for _, a := range addrs {
			if err := g.check(host, a); err != nil {
				return nil, err
			}
		}
	}
	d := net.Dialer{
		Timeout: dialTimeout,
		// The address actually connected to, checked once more.
		Control: func(_, address string, _ syscall.RawConn) error {
			if nameAllowed {
				return nil
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return g.check(host, ap.Addr())
		},
	}
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
