package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/whois"
)

// WhoIsFunc identifies the tailnet peer at addr, a bare IP address (the
// host never passes a port). The tsnet node's LocalClient().WhoIs has this
// shape. It is whois.Func, which the node's WhoIs cache answers.
type WhoIsFunc = whois.Func

// whois identifies r's caller. Every error means the caller is refused.
func (s *Server) whois(r *http.Request) (*identity.Identity, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return nil, fmt.Errorf("remote address %q: %w", r.RemoteAddr, err)
	}
	s.mu.Lock()
	whois, suffix := s.whoisFn, s.tailnetSuffix
	if viaService(r) {
		whois = s.whoisSvcFn
	}
	s.mu.Unlock()
	if whois == nil {
		return nil, fmt.Errorf("no WhoIs available")
	}
	ip := ap.Addr().Unmap()
	// The bare IP: see whois.Cache.WhoIs.
	w, err := whois(r.Context(), ip.String())
	if err != nil {
		return nil, fmt.Errorf("WhoIs %s: %w", ip, err)
	}
	return identity.FromWhoIs(w, ip, suffix)
}

type funnelKey struct{}

// markFunnel is the tailnet http.Server's ConnContext: it records whether
// the connection came in through Tailscale Funnel (from the internet).
func markFunnel(ctx context.Context, c net.Conn) context.Context {
	if _, ok := c.(*ipn.FunnelConn); ok {
		return context.WithValue(ctx, funnelKey{}, true)
	}
	return ctx
}

// isFunnel reports whether r arrived through Tailscale Funnel. tsmcp never
// listens with ListenFunnel; this refuses such connections should one ever
// reach the handler.
func isFunnel(r *http.Request) bool {
	v, _ := r.Context().Value(funnelKey{}).(bool)
	return v
}
