package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// TestNodeHTTPClientOnlyPeers: `tsmcp connect --tsnet` sends a message
// only to a tailnet peer of its node. A URL on the machine's own network
// (here a loopback server, which tsnet's own client does reach) gets
// ErrNotPeer once the dial timeout passes, and the server sees nothing.
func TestNodeHTTPClientOnlyPeers(t *testing.T) {
	n, err := devnet.Start(devnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nd, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "connect"})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()

	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	post := func(hc *http.Client) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// The hazard: tsnet's own client reaches the machine's network.
	if err := post(nd.Server.HTTPClient()); err != nil || got.Load() != 1 {
		t.Fatalf("tsnet's HTTP client to a loopback server: %v, %d requests (the test relies on it arriving)", err, got.Load())
	}
	err = post(NodeHTTPClient(nd.Server, 300*time.Millisecond))
	if !errors.Is(err, tsnetx.ErrNotPeer) {
		t.Fatalf("NodeHTTPClient to a loopback server: %v, want ErrNotPeer", err)
	}
	if got.Load() != 1 {
		t.Fatalf("NodeHTTPClient's message reached a server that is not a tailnet peer (%d requests)", got.Load())
	}
}
