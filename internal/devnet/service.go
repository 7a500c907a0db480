package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// svcGrantKey keys a grant to one Service from one source.
type svcGrantKey struct {
	src netip.Addr
	vip netip.Addr
}

// HostService sets up Tailscale Service name (svc:<name>) with virtual IP
// vip on control, as an admin defining the Service and approving its hosts
// would (what tsnet's own tests do by hand): every node in hosts gets the
// service-host capability mapping name to vip (so it may serve it with
// ListenService; they must be tagged), the first host gets the route to
// vip (on default plans one host serves at a time), and the tailnet gets
// the DNS record <name>.<MagicDNSDomain> -> vip. Clients must accept
// routes to reach it (see AcceptRoutes). hosts are tsnet nodes' keys (see
// NodeKey).
func (n *Network) HostService(name string, vip netip.Addr, hosts ...key.NodePublic) error {
	svc := tailcfg.ServiceName(name)
	if err := svc.Validate(); err != nil {
		return err
	}
	if len(hosts) == 0 {
		return errors.New("devnet: HostService needs at least one host")
	}
	for _, k := range hosts {
		nd := n.Control.Node(k)
		if nd == nil {
			return fmt.Errorf("devnet: control does not know node %s", k.ShortString())
		}
		if len(nd.Tags) == 0 {
			return fmt.Errorf("devnet: node %s is not tagged; Service hosts must be", nd.Name)
		}
		cm := maps.Clone(tailcfg.NodeCapMap(nd.CapMap))
		m := tailcfg.ServiceIPMappings{}
		if old, err := tailcfg.UnmarshalNodeCapJSON[tailcfg.ServiceIPMappings](cm, tailcfg.NodeAttrServiceHost); err == nil && len(old) == 1 {
			m = old[0]
		}
		m[svc] = []netip.Addr{vip}
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if cm == nil {
			cm = tailcfg.NodeCapMap{}
		}
		cm[tailcfg.NodeAttrServiceHost] = []tailcfg.RawMessage{tailcfg.RawMessage(raw)}
		n.Control.SetNodeCapMap(k, cm)
	}
	n.Control.SetSubnetRoutes(hosts[0], []netip.Prefix{netip.PrefixFrom(vip, vip.BitLen())})
	n.Control.AddDNSRecords(tailcfg.DNSRecord{Name: svc.WithoutPrefix() + "." + MagicDNSDomain, Value: vip.String()})
	return nil
}

// MoveService moves the route to vip from the host from to the host to,
// as control does when a Service's host stops advertising it (or goes
// away) and another takes over.
func (n *Network) MoveService(vip netip.Addr, from, to key.NodePublic) {
	pfx := netip.PrefixFrom(vip, vip.BitLen())
	n.Control.SetSubnetRoutes(from, nil)
	n.Control.SetSubnetRoutes(to, []netip.Prefix{pfx})
}

// AcceptRoutes makes nd accept the routes other nodes serve (tailscale
// up --accept-routes), which a client of a Service needs.
func AcceptRoutes(ctx context.Context, nd *Node) error {
	lc, err := nd.LocalClient()
	if err != nil {
		return err
	}
	_, err = lc.EditPrefs(ctx, &ipn.MaskedPrefs{RouteAllSet: true, Prefs: ipn.Prefs{RouteAll: true}})
	return err
}

// NodeKeyOf returns the key of the node registered with hostname.
func (n *Network) NodeKeyOf(hostname string) (key.NodePublic, error) {
	for _, nd := range n.Control.AllNodes() {
		if nd.Hostinfo.Hostname() == hostname {
			return nd.Key, nil
		}
	}
	return key.NodePublic{}, fmt.Errorf("devnet: no node named %s", hostname)
}

// WaitRoute waits until nd routes vip to the peer whose key is via and
// to no other (a HostService or MoveService reached it).
func WaitRoute(ctx context.Context, nd *Node, vip netip.Addr, via key.NodePublic) error {
	lc, err := nd.LocalClient()
	if err != nil {
		return err
	}
	pfx := netip.PrefixFrom(vip, vip.BitLen())
	var last string
	for {
		st, err := lc.Status(ctx)
		if err == nil {
			if routesVia(st, pfx, via) {
				return nil
			}
			last = describeRoutes(st)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: waiting for the route to %s via %s (peers' routes: %s): %w", vip, via.ShortString(), last, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitDial waits until nd opens a TCP connection to addr (host:port) and
// closes it: for a Service's name, until nd has the name's DNS record and
// the route to its VIP (see HostService, AcceptRoutes) and a host accepts.
// Every node that dials a Service needs this wait: each learns the record
// with its own netmap.
func WaitDial(ctx context.Context, nd *Node, addr string) error {
	var last error
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := nd.Dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return c.Close()
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnet: waiting to reach %s: %w (last: %v)", addr, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func peerRoutes(p *ipnstate.PeerStatus) []netip.Prefix {
	if p.AllowedIPs == nil {
		return nil
	}
	return p.AllowedIPs.AsSlice()
}

func describeRoutes(st *ipnstate.Status) string {
	var b strings.Builder
	for _, p := range st.Peer {
		fmt.Fprintf(&b, "%s %v; ", p.PublicKey.ShortString(), peerRoutes(p))
	}
	return b.String()
}

func routesVia(st *ipnstate.Status, pfx netip.Prefix, via key.NodePublic) bool {
	found := false
	for k, p := range st.Peer {
		has := slices.Contains(peerRoutes(p), pfx)
		if k == via {
			found = has
		} else if has {
			return false
		}
	}
	return found
}

// SetServiceCaps grants caps to connections from src (a peer's tailnet
// IP) to the Service with virtual IP vip only, as a grant with dst
// ["svc:<name>"] in a tailnet policy would (control compiles it into a
// capability grant whose destination is the Service's VIPs). Nil caps
// removes it. Like SetPeerCaps, nodes see it on their next control
// connection (Reconnect) or when they join.
func (n *Network) SetServiceCaps(src, vip netip.Addr, caps tailcfg.PeerCapMap) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := svcGrantKey{src: src, vip: vip}
	if caps == nil {
		delete(n.svcGrants, k)
		return
	}
	if n.svcGrants == nil {
		n.svcGrants = map[svcGrantKey]tailcfg.PeerCapMap{}
	}
	n.svcGrants[k] = caps
}

// serviceGrantRulesLocked returns the Service grants as filter rules.
// n.mu must be held.
func (n *Network) serviceGrantRulesLocked() []tailcfg.FilterRule {
	var rules []tailcfg.FilterRule
	for k, caps := range n.svcGrants {
		rules = append(rules, tailcfg.FilterRule{
			SrcIPs: []string{k.src.String()},
			CapGrant: []tailcfg.CapGrant{{
				Dsts:   []netip.Prefix{netip.PrefixFrom(k.vip, k.vip.BitLen())},
				CapMap: caps,
			}},
		})
	}
	return rules
}
