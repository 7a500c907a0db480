package devnet

import (
	"context"
	"fmt"
	"net/netip"

	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
)

// nodeNamed returns control's record of the node registered with hostname.
func (n *Network) nodeNamed(hostname string) (*tailcfg.Node, error) {
	for _, nd := range n.Control.AllNodes() {
		if nd.Hostinfo.Hostname() == hostname {
			return nd, nil
		}
	}
	return nil, fmt.Errorf("devnet: no node named %s", hostname)
}

// controlKey returns nd's node key as control knows it.
func controlKey(ctx context.Context, nd *Node) (key.NodePublic, error) {
	st, err := nd.Up(ctx)
	if err != nil {
		return key.NodePublic{}, err
	}
	return st.Self.PublicKey, nil
}

// RemovePeer tells the node registered with hostname that gone has left
// the tailnet, as production control tells the other nodes when a device
// is deleted: a MapResponse carrying only PeersRemoved. Like PushGrants it
// reaches only that node, which gets no automatic map responses any more
// afterwards, so gone stays removed for it (and only for it).
func (n *Network) RemovePeer(ctx context.Context, hostname string, gone *Node) error {
	to, err := n.nodeNamed(hostname)
	if err != nil {
		return err
	}
	k, err := controlKey(ctx, gone)
	if err != nil {
		return err
	}
	g := n.Control.Node(k)
	if g == nil {
		return fmt.Errorf("devnet: control does not know node %s", gone.Hostname)
	}
	if !n.Control.AddRawMapResponse(to.Key, &tailcfg.MapResponse{PeersRemoved: []tailcfg.NodeID{g.ID}}) {
		return fmt.Errorf("devnet: node %s is not connected to control", hostname)
	}
	return nil
}

// ReuseAddress makes nd reach the node registered with hostname from addr
// (an IPv4 address), as if the tailnet had given nd the address of a
// device removed earlier (see RemovePeer): nd masquerades as addr toward
// that node, and the node is sent nd's peer entry carrying addr, in a
// MapResponse with only PeersChanged. Like RemovePeer, the message reaches
// only that node. It replaces any masquerade set before.
func (n *Network) ReuseAddress(ctx context.Context, hostname string, nd *Node, addr netip.Addr) error {
	to, err := n.nodeNamed(hostname)
	if err != nil {
		return err
	}
	k, err := controlKey(ctx, nd)
	if err != nil {
		return err
	}
	if n.Control.Node(k) == nil {
		return fmt.Errorf("devnet: control does not know node %s", nd.Hostname)
	}
	// nd's own netmap (sent automatically) tells it to masquerade.
	n.Control.SetMasqueradeAddresses([]testcontrol.MasqueradePair{{Node: k, Peer: to.Key, NodeMasqueradesAs: addr}})
	// What control would now send hostname's node for nd: its entry with
	// addr in place of its own address.
	res, err := n.Control.MapResponse(&tailcfg.MapRequest{NodeKey: to.Key})
	if err != nil || res == nil {
		return fmt.Errorf("devnet: map response for %s: %v", hostname, err)
	}
	for _, p := range res.Peers {
		if p.Key == k {
			if !n.Control.AddRawMapResponse(to.Key, &tailcfg.MapResponse{PeersChanged: []*tailcfg.Node{p}}) {
				return fmt.Errorf("devnet: node %s is not connected to control", hostname)
			}
			return nil
		}
	}
	return fmt.Errorf("devnet: %s is not a peer of %s", nd.Hostname, hostname)
}
