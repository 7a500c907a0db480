package svcguard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// logRecords is a slog.Handler sending every record's message and "err"
// attribute to a channel.
type logRecords chan string

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logRecords) WithGroup(string) slog.Handler            { return h }
func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	})
	h <- line
	return nil
}

// newTestListener guards a fresh loopback listener, as New does when
// owned is nil, or with owned as the ownership check and headerTimeout.
func newTestListener(t *testing.T, owned func(net.Conn) error, headerTimeout time.Duration) (*Listener, logRecords) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := make(logRecords, 16)
	var g *Listener
	if owned == nil {
		g = New(ln, nil, slog.New(logs))
	} else {
		g = newListener(ln, ln.Addr(), slog.New(logs), owned, headerTimeout)
	}
	t.Cleanup(func() { g.Close() })
	return g, logs
}

// proxyHeader is a PROXY header of version and command from src to dst.
func proxyHeader(t *testing.T, version byte, cmd proxyproto.ProtocolVersionAndCommand, src, dst string) []byte {
	t.Helper()
	h := &proxyproto.Header{Version: version, Command: cmd, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      net.TCPAddrFromAddrPort(mustAddrPort(t, src)),
		DestinationAddr: net.TCPAddrFromAddrPort(mustAddrPort(t, dst))}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// dial connects to g and writes b.
func dial(t *testing.T, g *Listener, b []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return c
}

// acceptOne runs g.Accept on a goroutine.
func acceptOne(g *Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := g.Accept()
		if err == nil {
			ch <- c
		}
		close(ch)
	}()
	return ch
}

// TestListenerAdmits: a connection of this process with a PROXY v2
// header from a tailnet address is handed out as a Conn naming the
// header's addresses, with the bytes after the header intact; the real
// ownership check (New's default) passes it.
func TestListenerAdmits(t *testing.T) {
	if err := Supported(); err != nil {
		t.Fatalf("Supported: %v", err)
	}
	g, _ := newTestListener(t, nil, 0)
	dial(t, g, append(proxyHeader(t, 2, proxyproto.PROXY, "100.64.0.1:40000", "100.64.0.2:80"), "hello"...))
	c, err := g.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("Accept returned a %T, want a *Conn", c)
	}
	if got := c.RemoteAddr().String(); got != "100.64.0.1:40000" {
		t.Errorf("RemoteAddr = %s, want the PROXY source 100.64.0.1:40000", got)
	}
	if got := c.LocalAddr().String(); got != "100.64.0.2:80" {
		t.Errorf("LocalAddr = %s, want the PROXY destination 100.64.0.2:80", got)
	}
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
		t.Errorf("read %q, %v; want the bytes after the header, hello", b, err)
	}
}

// TestListenerRefuses: every connection that is not this process's or
// lacks a valid PROXY v2 header from a tailnet address is closed, never
// handed out, and logged with the reason.
func TestListenerRefuses(t *testing.T) {
	notOwned := func(net.Conn) error { return errors.New("the peer socket (inode 1) belongs to another process") }
	for _, tt := range []struct {
		name    string
		owned   func(net.Conn) error
		send    func(t *testing.T) []byte
		wantLog string
	}{
		{name: "another process's connection", owned: notOwned,
			send: func(t *testing.T) []byte {
				return proxyHeader(t, 2, proxyproto.PROXY, "100.64.0.1:40000", "100.64.0.2:80")
			},
			wantLog: "not from this process's serve path: the peer socket (inode 1) belongs to another process"},
		{name: "no PROXY header",
			send:    func(*testing.T) []byte { return []byte("POST /mcp HTTP/1.1\r\nHost: x\r\n\r\n") },
			wantLog: "no valid PROXY header"},
		{name: "PROXY v1",
			send: func(t *testing.T) []byte {
				return proxyHeader(t, 1, proxyproto.PROXY, "100.64.0.1:40000", "100.64.0.2:80")
			},
			wantLog: "PROXY header version 1 command 0x21, want version 2 PROXY"},
		{name: "LOCAL command",
			send: func(t *testing.T) []byte {
				return proxyHeader(t, 2, proxyproto.LOCAL, "100.64.0.1:40000", "100.64.0.2:80")
			},
			wantLog: "PROXY header version 2 command 0x20, want version 2 PROXY"},
		{name: "source not on the tailnet",
			send: func(t *testing.T) []byte {
				return proxyHeader(t, 2, proxyproto.PROXY, "192.0.2.1:40000", "100.64.0.2:80")
			},
			wantLog: "PROXY source 192.0.2.1:40000 is not a tailnet address"},
		{name: "header never sent",
			send:    func(*testing.T) []byte { return nil },
			wantLog: "no valid PROXY header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			owned := tt.owned
			if owned == nil {
				owned = func(net.Conn) error { return nil }
			}
			g, logs := newTestListener(t, owned, 100*time.Millisecond)
			accepted := acceptOne(g)
			c := dial(t, g, tt.send(t))
			select {
			case line := <-logs:
				if !strings.HasPrefix(line, "WARN refused a connection on the service's loopback socket peer=127.0.0.1:") ||
					!strings.Contains(line, "err="+tt.wantLog) {
					t.Errorf("log %q, want the refusal with err=%s", line, tt.wantLog)
				}
			case c := <-accepted:
				t.Fatalf("Accept handed out %v", c.RemoteAddr())
			case <-time.After(10 * time.Second):
				t.Fatal("no refusal logged")
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the refused connection reads %v, want it closed", err)
			}
			g.Close()
			if c, ok := <-accepted; ok {
				t.Fatalf("Accept handed out %v", c.RemoteAddr())
			}
		})
	}
}

// TestListenerClose: Close closes the connections still being checked
// and the inner listener; Accept then returns net.ErrClosed.
func TestListenerClose(t *testing.T) {
	g, _ := newTestListener(t, func(net.Conn) error { return nil }, time.Hour)
	c := dial(t, g, nil)
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the pending connection reads %v, want it closed", err)
	}
	if _, err := g.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if _, err := net.Dial("tcp", g.Addr().String()); err == nil {
		t.Error("the inner listener still accepts after Close")
	}
}
