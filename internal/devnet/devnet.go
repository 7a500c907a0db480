// Package devnet runs a complete Tailscale network inside the current
// process: a coordination server (tailscale.com's testcontrol), a DERP relay
// and a STUN server, all on loopback. Nodes join it with tsnet and then see
// each other, and WhoIs, exactly as on a real tailnet.
//
// It needs no Tailscale account and no internet. `tsmcp dev` and the
// end-to-end tests both use it.
package devnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"tailscale.com/derp/derpserver"
	"tailscale.com/envknob"
	"tailscale.com/ipn/store/mem"
	"tailscale.com/net/netns"
	"tailscale.com/net/stun"
	"tailscale.com/net/tsaddr"
	"tailscale.com/tailcfg"
	"tailscale.com/tsnet"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"

	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// LoginDomain is the domain of every user login on a devnet: nodes that
// join without tags get users named user-N@LoginDomain, N counting from 1 in
// the order they register.
const LoginDomain = "fake-control.example.net"

// MagicDNSDomain is the tailnet's MagicDNS suffix; node names are
// <hostname>.<MagicDNSDomain>.
const MagicDNSDomain = "tail-scale.ts.net"

// grantsFilterName is the name of the packet filter entry holding per-peer
// app capability grants; testcontrol's later full map responses replace
// only the "base" filter, so this entry survives them.
const grantsFilterName = "devnet-grants"

// Options configure a Network. The zero value is usable.
type Options struct {
	// Logf receives the control server's and DERP's logs. Nil discards them.
	Logf logger.Logf
	// Tags lists the ACL tags nodes may request (e.g. "tag:ci"). Nil means
	// no tags can be requested.
	Tags []string
	// RequireAuthKey, when set, is the only auth key control accepts;
	// nodes registering with another get "invalid authkey". Empty means
	// any node may join.
	RequireAuthKey string
}

// Network is a running in-process tailnet.
type Network struct {
	// ControlURL is the base URL of the coordination server, for
	// tsnet.Server.ControlURL.
	ControlURL string
	// Control is the coordination server itself, for tests that adjust it.
	Control *testcontrol.Server

	logf         logger.Logf
	control      *httptest.Server
	controlConns *trackingListener
	derp         *derpserver.Server
	derpHTTP     *httptest.Server
	stunConn     net.PacketConn
	stunDone     chan struct{}
	closeOnce    sync.Once

	mu     sync.Mutex // guards the fields below
	grants map[netip.Addr]tailcfg.PeerCapMap
	// svcGrants are grants whose dst is a Service's VIPs (service.go).
	svcGrants map[svcGrantKey]tailcfg.PeerCapMap
}

// Start runs a control server, DERP and STUN on 127.0.0.1 ports chosen by the
// kernel. Close stops them.
//
// Start turns off tailscale.com's network namespace marks (netns) for the
// whole process, as Tailscale's own tests do: they need CAP_NET_ADMIN and
// are of no use on loopback.
//
// It also turns off the upload of tsnet's logs to log.tailscale.com
// (TS_NO_LOGS_NO_SUPPORT) for the process: a loopback network has no use
// for them, and where the internet is unreachable each node would wait for
// the upload to time out when it closes.
func Start(opts Options) (*Network, error) {
	netns.SetEnabled(false)
	envknob.SetNoLogsNoSupport()
	logf := opts.Logf
	if logf == nil {
		logf = logger.Discard
	}
	n := &Network{logf: logf, grants: map[netip.Addr]tailcfg.PeerCapMap{}}

	if err := n.startSTUN(); err != nil {
		return nil, err
	}
	derpMap, err := n.startDERP()
	if err != nil {
		n.Close()
		return nil, err
	}

	owners := map[string][]string{}
	for _, t := range opts.Tags {
		owners[t] = nil
	}
	n.Control = &testcontrol.Server{
		DERPMap:                derpMap,
		DNSConfig:              &tailcfg.DNSConfig{Proxied: true},
		MagicDNSDomain:         MagicDNSDomain,
		Logf:                   logf,
		TagOwners:              owners,
		AllOnline:              true,
		ModifyFirstMapResponse: n.addGrants,
		RequireAuthKey:         opts.RequireAuthKey,
	}
	n.control = httptest.NewUnstartedServer(guardControl(n.Control))
	// Track connections ourselves: the coordination protocol hijacks
	// them, after which httptest no longer can close them.
	n.controlConns = &trackingListener{Listener: n.control.Listener, conns: map[net.Conn]bool{}}
	n.control.Listener = n.controlConns
	n.control.Config.ErrorLog = logger.StdLogger(logf)
	n.Control.HTTPTestServer = n.control
	n.control.Start()
	n.ControlURL = n.control.URL
	return n, nil
}

func (n *Network) startSTUN() error {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("devnet: STUN listener: %w", err)
	}
	n.stunConn = pc
	n.stunDone = make(chan struct{})
	go func() {
		defer close(n.stunDone)
		buf := make([]byte, 64<<10)
		for {
			nr, src, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			ua, ok := src.(*net.UDPAddr)
			if !ok || !stun.Is(buf[:nr]) {
				continue
			}
			txid, err := stun.ParseBindingRequest(buf[:nr])
			if err != nil {
				continue
			}
			if _, err := pc.WriteTo(stun.Response(txid, ua.AddrPort()), src); err != nil {
				n.logf("devnet: STUN reply: %v", err)
			}
		}
	}()
	return nil
}

func (n *Network) startDERP() (*tailcfg.DERPMap, error) {
	n.derp = derpserver.New(key.NewNode(), n.logf)
	n.derpHTTP = httptest.NewUnstartedServer(derpserver.Handler(n.derp))
	n.derpHTTP.Config.ErrorLog = logger.StdLogger(n.logf)
	n.derpHTTP.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	n.derpHTTP.StartTLS()
	derpPort := n.derpHTTP.Listener.Addr().(*net.TCPAddr).Port
	stunPort := n.stunConn.LocalAddr().(*net.UDPAddr).Port
	return &tailcfg.DERPMap{
		Regions: map[int]*tailcfg.DERPRegion{
			1: {
				RegionID:   1,
				RegionCode: "devnet",
				RegionName: "devnet (loopback)",
				Nodes: []*tailcfg.DERPNode{{
					Name:             "d1",
					RegionID:         1,
					HostName:         "127.0.0.1",
					IPv4:             "127.0.0.1",
					IPv6:             "none",
					STUNPort:         stunPort,
					DERPPort:         derpPort,
					InsecureForTests: true,
					STUNTestIP:       "127.0.0.1",
				}},
			},
		},
	}, nil
}

// guardControl passes only the coordination protocol's paths to control.
// testcontrol panics, taking the process down, on any other request (a
// browser or a port scan on the playground would do it); those get 404.
func guardControl(control http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/key", "/ts2021", "/machine/", "/c2n/", "/generate_204"} {
		mux.Handle(p, control)
	}
	mux.HandleFunc("/", http.NotFound)
	return mux
}

// Close stops the control server, DERP and STUN. Nodes should be closed
// first; Close does not wait for them.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		if n.control != nil {
			n.control.CloseClientConnections()
			n.control.Close()
		}
		if n.derpHTTP != nil {
			n.derpHTTP.CloseClientConnections()
			n.derpHTTP.Close()
		}
		if n.derp != nil {
			n.derp.Close()
		}
		if n.stunConn != nil {
			n.stunConn.Close()
			<-n.stunDone
		}
	})
	return nil
}

// NodeOptions describe a node to join to the Network.
type NodeOptions struct {
	// Hostname is the node's name on the tailnet. Required.
	Hostname string
	// Tags are ACL tags to request; each must be in Options.Tags. Nil makes
	// a user node (user-N@LoginDomain).
	Tags []string
	// Dir is the node's state directory. Empty means a fresh temporary
	// directory, removed when the node is closed by Node.Close.
	Dir string
	// Logf receives the node's tsnet logs. Nil discards them.
	Logf logger.Logf
	// ListenAddr, if set, is a TCP address (":80") the node listens on
	// before it joins, so that it accepts connections from the moment
	// its peers can see it (Node.Listener). Empty means none.
	ListenAddr string
}

// Node is a tsnet node joined to a Network.
type Node struct {
	*tsnet.Server
	// IP is the node's tailnet IPv4 address.
	IP netip.Addr
	// Listener listens on NodeOptions.ListenAddr; nil without one. Close
	// closes it with the node.
	Listener net.Listener
	// tmpDir is removed on Close when the Network created it.
	tmpDir string
}

// peerWait bounds how long Node.Dial waits for a peer the node has not
// heard of yet when the caller's context has no deadline.
const peerWait = 60 * time.Second

// Dial dials addr through the node, only ever to one of its tailnet peers
// (see tsnetx.DialPeer): a host that has just joined is waited for (until
// ctx ends, or peerWait when ctx has no deadline) instead of being dialed
// on the machine's own network, where something else may answer at its
// 100.64.0.0/10 address. It shadows tsnet.Server.Dial.
func (nd *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, peerWait)
		defer cancel()
	}
	return tsnetx.DialPeer(ctx, nd.Server, network, addr)
}

// HTTPClient returns an HTTP client that dials with Dial (tailnet peers
// only). It shadows tsnet.Server.HTTPClient.
func (nd *Node) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: nd.Dial}}
}

// Close shuts the node down and removes its temporary state.
func (nd *Node) Close() error {
	err := nd.Server.Close()
	if nd.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(nd.tmpDir))
	}
	return err
}

// NewNode joins a new ephemeral tsnet node to the network and waits until it
// is Running and connected to DERP, so that peers can reach it at once.
func (n *Network) NewNode(ctx context.Context, opts NodeOptions) (*Node, error) {
	if opts.Hostname == "" {
		return nil, errors.New("devnet: NodeOptions.Hostname is required")
	}
	nd := &Node{}
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "devnet-"+opts.Hostname+"-")
		if err != nil {
			return nil, fmt.Errorf("devnet: state dir: %w", err)
		}
		nd.tmpDir, dir = tmp, tmp
	}
	logf := opts.Logf
	if logf == nil {
		logf = logger.Discard
	}
	nd.Server = &tsnet.Server{
		Dir:           dir,
		Store:         new(mem.Store),
		Hostname:      opts.Hostname,
		ControlURL:    n.ControlURL,
		Ephemeral:     true,
		AdvertiseTags: opts.Tags,
		Logf:          logf,
		UserLogf:      logf,
	}
	if opts.ListenAddr != "" {
		ln, err := nd.Server.Listen("tcp", opts.ListenAddr)
		if err != nil {
			nd.Close()
			return nil, fmt.Errorf("devnet: node %s: listen %s: %w", opts.Hostname, opts.ListenAddr, err)
		}
		nd.Listener = ln
	}
	st, err := nd.Server.Up(ctx)
	if err != nil {
		nd.Close()
		return nil, fmt.Errorf("devnet: node %s: %w", opts.Hostname, err)
	}
	for _, ip := range st.TailscaleIPs {
		if ip.Is4() {
			nd.IP = ip
		}
	}
	if err := tsnetx.WaitHomeDERP(ctx, nd.Server); err != nil {
		nd.Close()
		return nil, fmt.Errorf("devnet: node %s: %w", opts.Hostname, err)
	}
	return nd, nil
}

// SetPeerCaps grants caps to connections from src (a peer's tailnet IP) on
// every node, as an app-capability grant in a tailnet policy would. Nil caps
// removes the grant. Nodes joining later see it at once; nodes already
// joined see it on their next control connection (see Reconnect).
func (n *Network) SetPeerCaps(src netip.Addr, caps tailcfg.PeerCapMap) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if caps == nil {
		delete(n.grants, src)
		return
	}
	n.grants[src] = caps
}

// Reconnect drops every node's connection to the control server. Nodes
// reconnect on their own and receive a fresh netmap, with the grants set by
// SetPeerCaps: this is how a changed tailnet policy reaches them here.
func (n *Network) Reconnect() {
	n.controlConns.closeAll()
}

// trackingListener remembers the connections it accepted until they close.
type trackingListener struct {
	net.Listener

	mu    sync.Mutex // guards the field below
	conns map[net.Conn]bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns[tc] = true
	return tc, nil
}

// closeAll closes every open accepted connection.
func (l *trackingListener) closeAll() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// PushGrants sends the node registered with hostname a MapResponse that
// carries only the packet filter holding the grants set by SetPeerCaps:
// the shape in which production control delivers a tailnet policy change
// (no peers, no netmap, and so no IPN bus notification). Unlike Reconnect
// it reaches only that node. Once a node has received such a message,
// testcontrol sends it no automatic map responses any more: use a node of
// its own for it.
func (n *Network) PushGrants(hostname string) error {
	for _, nd := range n.Control.AllNodes() {
		if nd.Hostinfo.Hostname() != hostname {
			continue
		}
		n.mu.Lock()
		rules := n.grantRulesLocked()
		n.mu.Unlock()
		// With no grants left, rules is nil, which deletes the entry.
		mr := &tailcfg.MapResponse{PacketFilters: map[string][]tailcfg.FilterRule{grantsFilterName: rules}}
		if !n.Control.AddRawMapResponse(nd.Key, mr) {
			return fmt.Errorf("devnet: node %s is not connected to control", hostname)
		}
		return nil
	}
	return fmt.Errorf("devnet: no node named %s", hostname)
}

// addGrants is testcontrol's ModifyFirstMapResponse hook: it adds the
// per-peer grants as a named packet filter.
func (n *Network) addGrants(res *tailcfg.MapResponse, _ *tailcfg.MapRequest) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if res.PacketFilters == nil {
		res.PacketFilters = map[string][]tailcfg.FilterRule{}
	}
	res.PacketFilters[grantsFilterName] = n.grantRulesLocked()
}

// grantRulesLocked returns the grants as filter rules. n.mu must be held.
func (n *Network) grantRulesLocked() []tailcfg.FilterRule {
	var rules []tailcfg.FilterRule
	for src, caps := range n.grants {
		rules = append(rules, tailcfg.FilterRule{
			SrcIPs: []string{src.String()},
			CapGrant: []tailcfg.CapGrant{{
				Dsts:   []netip.Prefix{tsaddr.AllIPv4(), tsaddr.AllIPv6()},
				CapMap: caps,
			}},
		})
	}
	return append(rules, n.serviceGrantRulesLocked()...)
}

// Login returns the login testcontrol gives the n-th user node to register
// (counting from 1): user-<n>@fake-control.example.net.
func Login(n int) string {
	return "user-" + strconv.Itoa(n) + "@" + LoginDomain
}

// MoveToOtherTailnet makes nd look, to every other node, like a node of
// another tailnet named domain (e.g. "other.ts.net") that was given access
// by sharing: its MagicDNS name moves under domain, as the names of a
// sharee's devices do. Nodes see the change with their next netmap.
func (n *Network) MoveToOtherTailnet(ctx context.Context, nd *Node, domain string) error {
	st, err := nd.Up(ctx)
	if err != nil {
		return err
	}
	node := n.Control.Node(st.Self.PublicKey)
	if node == nil {
		return fmt.Errorf("devnet: control does not know node %s", st.Self.HostName)
	}
	short, _, _ := strings.Cut(node.Name, ".")
	node.Name = short + "." + strings.Trim(domain, ".") + "."
	n.Control.UpdateNode(node)
	return nil
}
