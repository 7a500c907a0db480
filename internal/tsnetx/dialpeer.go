package tsnetx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"tailscale.com/tsnet"
)

// peerPoll is how often DialPeer looks again for a peer the node's
// netmap does not list yet.
const peerPoll = 25 * time.Millisecond

// ErrNotPeer is wrapped by DialPeer's error when the address never
// became one of the node's tailnet peers.
var ErrNotPeer = errors.New("not a peer on the tailnet")

// DialPeer dials addr (host:port; the host a tailnet IP or a MagicDNS
// name) over TCP through s, and only to one of s's tailnet peers.
//
// tsnet.Server.Dial dials an address that is not a peer in the node's
// netmap with the operating system's network instead: a host that has
// just joined (and that this node has not heard of yet), or that has left,
// is then dialed in the clear on the local network, where anything may
// answer at a 100.64.0.0/10 address. DialPeer never does: it waits until
// the netmap lists the address as a peer (looking every few milliseconds,
// and resolving a name again each time) and dials it through WireGuard,
// or fails with ErrNotPeer when ctx ends first. Bound ctx.
//
// It uses s.Sys(), which tsnet documents as not a stable API; see
// PinnedTailscaleVersion. s must be started (Up) first.
func DialPeer(ctx context.Context, s *tsnet.Server, network, addr string) (net.Conn, error) {
	if !strings.HasPrefix(network, "tcp") {
		return nil, fmt.Errorf("dial %s %s: only TCP reaches tailnet peers here", network, addr)
	}
	d := s.Sys().Dialer.Get()
	if d.UseNetstackForIP == nil || d.NetstackDialTCP == nil {
		return nil, fmt.Errorf("dial %s: the tailnet node is not started", addr)
	}
	t := time.NewTicker(peerPoll)
	defer t.Stop()
	for {
		ipp, _, err := d.UserDialPlan(ctx, network, addr)
		if err == nil && d.UseNetstackForIP(ipp.Addr()) {
			return d.NetstackDialTCP(ctx, ipp)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("dial %s: %w: %v (%v)", addr, ErrNotPeer, err, ctx.Err())
			}
			return nil, fmt.Errorf("dial %s: %w: this node's netmap has no peer at %s (%v)", addr, ErrNotPeer, ipp.Addr(), ctx.Err())
		case <-t.C:
		}
	}
}
