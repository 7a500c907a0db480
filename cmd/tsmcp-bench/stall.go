package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/net/proxy"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Measurement 7: answers to a client that stopped reading. The tsmcp host
// (a child process) answers stallCalls tools/call of stallAnswer bytes
// each to a client on a separate tailscaled peer (userspace networking,
// reached through its SOCKS5 proxy) that sends them on raw connections and
// never reads; the host's heap is read (after a GC) before, while the
// write deadline (stallWriteTimeout) has not fired yet, and after it, the
// connections still open: what the host keeps of undelivered answers.

const (
	stallAnswer       = 21 << 20
	stallCalls        = 6
	stallWriteTimeout = 5 * time.Second
)

// stallHost adjusts cfg for the measurement and returns the provider of
// its huge tool: the tool open to every caller, room for all the calls and
// their answers, and a short write timeout.
func stallHost(cfg *config.Config) tools.Provider {
	cfg.ACL.Rules = append(cfg.ACL.Rules, acl.Rule{Src: []string{"*"}, Tools: []string{"huge"}})
	cfg.MCP.Limits.WriteTimeout = stallWriteTimeout
	cfg.MCP.Limits.CallsPerIdentity, cfg.MCP.Limits.CallsTotal = 2*stallCalls, 2*stallCalls
	cfg.MCP.Limits.AnswerBytesPerIdentity = 2 * stallCalls * stallAnswer
	cfg.MCP.Limits.AnswerBytesTotal = cfg.MCP.Limits.AnswerBytesPerIdentity
	return hugeProvider{}
}

// hugeProvider's huge tool answers stallAnswer bytes of text.
type hugeProvider struct{}

func (hugeProvider) Name() string { return "huge" }
func (hugeProvider) Close() error { return nil }
func (hugeProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{{Tool: mcp.NewTool("huge"), Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(strings.Repeat("x", stallAnswer)), nil
	}}}, nil
}

// stallResult is what measurement 7 found; err is set when it could not
// run.
type stallResult struct {
	err                         error
	before, during, after       uint64 // host heap (HeapAlloc after a GC)
	closed                      uint64 // the same once the client closed its connections
	rssBefore, rssAfter         uint64
	goroutinesBefore, goroutine int
}

// measureStall runs measurement 7.
func (b *bench) measureStall(ctx context.Context) *stallResult {
	res := &stallResult{}
	res.err = b.runStall(ctx, res)
	return res
}

func (b *bench) runStall(ctx context.Context, res *stallResult) error {
	host, err := b.startHostProc(ctx, kindTsmcp, "bench-stall", "-stall")
	if err != nil {
		return err
	}
	defer host.stop()
	socks, err := freeAddr()
	if err != nil {
		return err
	}
	peer, err := b.startTailscaled(ctx, "bench-stall-peer", "--socks5-server="+socks)
	if err != nil {
		return err
	}
	defer b.stopSidecar(peer)
	dialer, err := proxy.SOCKS5("tcp", socks, nil, proxy.Direct)
	if err != nil {
		return err
	}
	target := strings.TrimPrefix(host.ready.URL, "http://") + ":80"
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.(proxy.ContextDialer).DialContext(ctx, network, target)
		},
	}}
	defer hc.CloseIdleConnections()
	// A session, opened as a reading client would; the first request
	// through the peer also sets up its path.
	var sid string
	if err := waitFor(ctx, 60*time.Second, peer.exited, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, host.ready.URL+"/mcp", strings.NewReader(probeInitialize))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		sid = resp.Header.Get("Mcp-Session-Id")
		return resp.StatusCode == http.StatusOK && sid != ""
	}); err != nil {
		return fmt.Errorf("no session through the peer: %v: %s", err, peer.stderr)
	}
	st, err := host.stats(ctx, true)
	if err != nil {
		return err
	}
	res.before, res.rssBefore, res.goroutinesBefore = st.HeapAlloc, st.RSS, st.Goroutines

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range stallCalls {
		conn, err := dialer.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
		if err != nil {
			return err
		}
		conns = append(conns, conn)
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"huge","arguments":{}}}`, i+2)
		if _, err := fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\nContent-Length: %d\r\n\r\n%s",
			target, sid, mcp.LATEST_LEGACY_PROTOCOL_VERSION, len(body), body); err != nil {
			return err
		}
	}
	// While the answers are being written (the deadline has not fired).
	time.Sleep(stallWriteTimeout / 2)
	if st, err = host.stats(ctx, true); err != nil {
		return err
	}
	res.during = st.HeapAlloc
	// Well past the deadline; the connections stay open, unread.
	time.Sleep(3 * stallWriteTimeout)
	if st, err = host.stats(ctx, true); err != nil {
		return err
	}
	res.after, res.rssAfter, res.goroutine = st.HeapAlloc, st.RSS, st.Goroutines
	// What is left is the host's TCP send buffers (tailscale's netstack
	// holds up to 6 MiB per connection the peer does not read): gone
	// once the client closes.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	time.Sleep(stallWriteTimeout)
	if st, err = host.stats(ctx, true); err != nil {
		return err
	}
	res.closed = st.HeapAlloc
	if b.profileDir != "" {
		return host.heapProfile(ctx, filepath.Join(b.profileDir, "stall-heap.pprof"))
	}
	return nil
}

// renderStall reports measurement 7.
func renderStall(r *results) string {
	if r.stall == nil {
		return ""
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## 7. Answers to a client that stopped reading\n\n")
	if r.stall.err != nil {
		p("Not measured: %v\n\n", r.stall.err)
		return b.String()
	}
	s := r.stall
	p("%d `tools/call` answers of %d MiB each, sent to a client on a separate tailscaled peer (userspace networking, through its SOCKS5 proxy) that never reads them, on %d raw connections left open; `mcp.limits.write_timeout` %s. The host's heap (Go HeapAlloc after a GC):\n\n",
		stallCalls, stallAnswer>>20, stallCalls, stallWriteTimeout)
	t := newTable("when", "heap", "vs before")
	t.add("before", mib(s.before), "")
	t.add(fmt.Sprintf("%s in (answers being written)", stallWriteTimeout/2), mib(s.during), signedMiB(s.during, s.before))
	t.add(fmt.Sprintf("%s in (%s past the deadline)", stallWriteTimeout/2+3*stallWriteTimeout, 3*stallWriteTimeout-stallWriteTimeout/2), mib(s.after), signedMiB(s.after, s.before))
	t.add(fmt.Sprintf("%s after the client closed its connections", stallWriteTimeout), mib(s.closed), signedMiB(s.closed, s.before))
	b.WriteString(t.String())
	p("\nRSS %s → %s; goroutines %d → %d.\n\n", mib(s.rssBefore), mib(s.rssAfter), s.goroutinesBefore, s.goroutine)
	return b.String()
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func signedMiB(a, b uint64) string {
	return fmt.Sprintf("%+.1f MiB", (float64(a)-float64(b))/(1<<20))
}
