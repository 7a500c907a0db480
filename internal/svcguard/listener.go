// Package svcguard guards the loopback socket of a Tailscale Service:
// tsnet's ListenService (TCP mode, PROXY protocol v2) opens a listener on
// loopback that the node's serve path dials from inside this process,
// writing a PROXY v2 header that names the tailnet caller. Listener hands
// out only those connections, as Conns whose RemoteAddr is the tailnet
// caller's address, so that no other process on the host can connect to
// the loopback port and pose as a tailnet caller. internal/server serves
// the Service's MCP endpoint on it.
package svcguard

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
	"tailscale.com/net/tsaddr"
)

// proxyHeaderTimeout bounds how long a connection on the service's
// loopback socket may take to send its PROXY header. The serve path writes
// it at once, before any byte of the caller's.
const proxyHeaderTimeout = 2 * time.Second

// Listener wraps the loopback listener tsnet's ListenService opens
// (tailnet traffic to the Service reaches it through the node's serve
// path, which dials it from inside this process and writes a PROXY v2
// header naming the tailnet caller). It hands out only connections that
// (1) come from a socket this very process owns (see Supported) and
// (2) start with a well-formed PROXY v2 header whose source is a tailnet
// address. Everything else is closed and logged. So another process on
// the host (a bridged stdio server, running as the same user, included)
// cannot connect to the loopback port and pose as a tailnet caller.
//
// Checks run on a goroutine per connection, so a connection that never
// sends its header holds up no other.
//
// The zero Listener is not usable: make one with New. A Listener is a
// net.Listener; its methods are safe for concurrent use.
type Listener struct {
	ln net.Listener // the loopback listener; Close closes it
	// addr is the loopback socket's address (a tsnet ServiceListener's
	// Addr is the Service's name).
	addr net.Addr
	log  *slog.Logger
	// owned reports (nil) whether the peer of c is a socket of this
	// process; ownedBySelf except in tests.
	owned         func(c net.Conn) error
	headerTimeout time.Duration

	conns     chan net.Conn // accepted and checked
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	acceptErr chan error // the inner Accept's terminal error
	wg        sync.WaitGroup

	mu      sync.Mutex // guards the field below
	pending map[net.Conn]bool
}

// New starts guarding ln, the loopback listener of a Service (for tsnet,
// the ServiceListener itself, so that Close withdraws the Service). addr
// is what Addr reports: the loopback socket's address (a tsnet
// ServiceListener's own Addr is the Service's name); nil means ln.Addr().
// Every refused connection is logged to log at Warn level; a nil log
// means slog.Default(). New accepts on ln at once, on its own goroutine,
// until Close. Check Supported first: where it fails, every connection
// is refused.
func New(ln net.Listener, addr net.Addr, log *slog.Logger) *Listener {
	if addr == nil {
		addr = ln.Addr()
	}
	if log == nil {
		log = slog.Default()
	}
	return newListener(ln, addr, log, ownedBySelf, proxyHeaderTimeout)
}

// newListener is New with the ownership check and the header timeout
// given (tests replace them).
func newListener(ln net.Listener, addr net.Addr, log *slog.Logger, owned func(net.Conn) error, headerTimeout time.Duration) *Listener {
	g := &Listener{
		ln:            ln,
		addr:          addr,
		log:           log,
		owned:         owned,
		headerTimeout: headerTimeout,
		conns:         make(chan net.Conn),
		done:          make(chan struct{}),
		acceptErr:     make(chan error, 1),
		pending:       map[net.Conn]bool{},
	}
	g.wg.Add(1)
	go g.acceptLoop()
	return g
}

func (g *Listener) acceptLoop() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			g.acceptErr <- err
			return
		}
		g.mu.Lock()
		select {
		case <-g.done:
			g.mu.Unlock()
			c.Close()
			continue
		default:
		}
		g.pending[c] = true
		g.wg.Add(1)
		g.mu.Unlock()
		go g.check(c)
	}
}

// check admits c or closes it.
func (g *Listener) check(c net.Conn) {
	defer g.wg.Done()
	pc, err := g.admit(c)
	g.mu.Lock()
	delete(g.pending, c)
	g.mu.Unlock()
	if err != nil {
		g.log.Warn("refused a connection on the service's loopback socket", "peer", c.RemoteAddr().String(), "err", err)
		c.Close()
		return
	}
	select {
	case g.conns <- pc:
	case <-g.done:
		c.Close()
	}
}

// admit checks c's peer and reads its PROXY header.
func (g *Listener) admit(c net.Conn) (*Conn, error) {
	if err := g.owned(c); err != nil {
		return nil, fmt.Errorf("not from this process's serve path: %w", err)
	}
	if err := c.SetReadDeadline(time.Now().Add(g.headerTimeout)); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	h, err := proxyproto.Read(br)
	if err != nil {
		return nil, fmt.Errorf("no valid PROXY header: %w", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	if h.Version != 2 || h.Command != proxyproto.PROXY {
		return nil, fmt.Errorf("PROXY header version %d command %#x, want version 2 PROXY", h.Version, byte(h.Command))
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		return nil, errors.New("PROXY header carries no TCP addresses")
	}
	ap := src.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !tsaddr.IsTailscaleIP(ap.Addr()) {
		return nil, fmt.Errorf("PROXY source %s is not a tailnet address", ap)
	}
	return &Conn{Conn: c, r: br, remote: net.TCPAddrFromAddrPort(ap), local: dst}, nil
}

// Accept returns the next admitted connection, a *Conn; after Close it
// returns net.ErrClosed, and once the inner listener fails, its error.
func (g *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case <-g.done:
		return nil, net.ErrClosed
	case err := <-g.acceptErr:
		g.acceptErr <- err // for the next caller
		return nil, err
	}
}

// Close closes the loopback listener (for a tsnet ServiceListener, this
// also withdraws the advertisement and removes the serve configuration),
// closes the connections still being checked and waits for the checks to
// end.
func (g *Listener) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		close(g.done)
		for c := range g.pending {
			c.Close()
		}
		g.mu.Unlock()
		g.closeErr = g.ln.Close()
		g.wg.Wait()
	})
	return g.closeErr
}

// Addr is the loopback socket's address.
func (g *Listener) Addr() net.Addr { return g.addr }

// Conn is a loopback connection admitted by a Listener: its RemoteAddr
// is the tailnet caller's address from the PROXY header. Only a Listener
// makes them (the zero Conn is not usable); a server tells connections
// that came in through the Service by their type.
type Conn struct {
	net.Conn
	r      *bufio.Reader // holds bytes read past the header
	remote net.Addr
	local  net.Addr
}

// Read reads the connection's bytes after the PROXY header.
func (c *Conn) Read(b []byte) (int, error) { return c.r.Read(b) }

// RemoteAddr is the tailnet caller's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// LocalAddr is the address the caller reached, as the PROXY header names
// it (the node's tailnet address), not the loopback socket's: to handlers
// (and mcp-go's localhost DNS-rebinding check) the request came over the
// tailnet. The server's Host check covers DNS rebinding.
func (c *Conn) LocalAddr() net.Addr { return c.local }
