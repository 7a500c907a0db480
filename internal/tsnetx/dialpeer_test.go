package tsnetx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// TestDialPeer: DialPeer reaches only the node's tailnet peers. An address
// that is not one (here a listener on the machine's loopback, which
// tsnet.Server.Dial does reach, over the machine's own network) is refused
// with ErrNotPeer and never connected to; a host the node has not heard of
// when the dial starts is waited for and reached over the tailnet.
func TestDialPeer(t *testing.T) {
	n, err := devnet.Start(devnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	t.Run("not a peer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		// pending reports whether a connection reached ln (and takes it).
		// A dial that returned has its connection in ln's backlog already,
		// so Accept returns it at once; the deadline only ends the wait
		// when there is none (Accept with a deadline already passed
		// would not look).
		pending := func() bool {
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
			c, err := ln.Accept()
			if err != nil {
				return false
			}
			c.Close()
			return true
		}
		// The hazard: tsnet's own Dial goes out the machine's network.
		c, err := a.Server.Dial(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("tsnet.Server.Dial to a loopback listener: %v (the test relies on it reaching the listener)", err)
		}
		c.Close()
		if !pending() {
			t.Fatal("tsnet.Server.Dial's connection did not reach the loopback listener")
		}

		dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer dcancel()
		c, err = tsnetx.DialPeer(dctx, a.Server, "tcp", ln.Addr().String())
		if err == nil {
			c.Close()
			t.Fatal("DialPeer connected to an address that is not a tailnet peer")
		}
		if !errors.Is(err, tsnetx.ErrNotPeer) {
			t.Fatalf("DialPeer: %v, want ErrNotPeer", err)
		}
		if pending() {
			t.Fatal("DialPeer refused, but a connection reached the loopback listener")
		}
		if _, err := tsnetx.DialPeer(ctx, a.Server, "udp", ln.Addr().String()); err == nil {
			t.Fatal("DialPeer over UDP: no error")
		}
	})

	t.Run("a host that joins later", func(t *testing.T) {
		type result struct {
			got string
			err error
		}
		done := make(chan result, 1)
		go func() {
			c, err := tsnetx.DialPeer(ctx, a.Server, "tcp", "late:80")
			if err != nil {
				done <- result{err: err}
				return
			}
			defer c.Close()
			b, err := io.ReadAll(c)
			done <- result{string(b), err}
		}()
		// The late host listens before it joins: once it is a peer it
		// accepts (a listener opened after joining could refuse a dial
		// that found the peer in between).
		late, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "late", ListenAddr: ":80"})
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		ln := late.Listener
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "late")
			c.Close()
		}()
		r := <-done
		if r.err != nil || r.got != "late" {
			t.Fatalf("DialPeer to a host that joined after the dial began: %q, %v; want \"late\"", r.got, r.err)
		}
	})
}
