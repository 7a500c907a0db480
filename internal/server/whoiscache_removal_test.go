package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestWhoIsCachePeerRemoved: a peer removed from the tailnet loses its
// cached WhoIs answer. The removal reaches the host as production control
// sends it (a MapResponse with only PeersRemoved), and the removed node's
// address then comes back on another node (bob, whom the policy does not
// name): his requests from that address must be judged as his, not served
// from the removed node's cached identity (carol, allowed whoami).
//
// A removed node's own packets no longer reach the host, so the address
// reused is the only way a request "from that IP" arrives; that second
// change is itself a peer change, but the cache entry was already dropped
// by the removal (nothing from that address reached the host between the
// two). With STALE_WHOIS_DEMO=1 (invalidation off) bob is served as carol
// and the test fails.
func TestWhoIsCachePeerRemoved(t *testing.T) {
	tn := startTailnet(t)
	carol, bob := tn.carolCaller(), tn.callers()[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// A fresh name per run: the devnet helpers find the host by name.
	hostname := fmt.Sprintf("whois-removed-%d", whoisRuns.Add(1))
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, hostname, logs, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{carol.login}, Tools: []string{"whoami"}}}}
		staleWhoIsForDemo(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	hostURL := "http://" + host.TailnetIP().String() + "/mcp"
	s := streamableSession(ctx, t, hostURL, carol)
	for range 3 { // warm the cache with carol's identity
		if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
			t.Fatalf("whoami as %s: %v %+v", carol.login, err, r)
		}
	}
	if hits, misses := server.WhoIsCacheStats(host); hits == 0 {
		t.Fatalf("WhoIs cache: %d hits, %d misses after repeated calls; want hits", hits, misses)
	}

	if err := tn.net.RemovePeer(ctx, hostname, carol.node); err != nil {
		t.Fatal(err)
	}
	// The removal has reached the host once carol's calls stop getting
	// through.
	for {
		callCtx, cancelCall := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.CallTool(callCtx, &sdk.CallToolParams{Name: "whoami"})
		cancelCall()
		if err != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("carol's calls still reach the host after her removal")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := tn.net.ReuseAddress(ctx, hostname, bob.node, carol.node.IP); err != nil {
		t.Fatal(err)
	}
	// Bob, from carol's old address, until his call gets an answer: it
	// must be the refusal his own identity gets.
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-server-test", Version: "1"}, nil)
	for {
		if ctx.Err() != nil {
			t.Fatal("bob never reached the host from carol's old address")
		}
		connCtx, cancelConn := context.WithTimeout(ctx, 3*time.Second)
		bs, err := client.Connect(connCtx, &sdk.StreamableClientTransport{Endpoint: hostURL, HTTPClient: bob.httpClient(), MaxRetries: -1}, nil)
		if err != nil {
			cancelConn()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r, err := bs.CallTool(connCtx, &sdk.CallToolParams{Name: "whoami"})
		cancelConn()
		bs.Close()
		switch {
		case err != nil && strings.Contains(err.Error(), "not found"):
			// Judged as bob: the host's audit line names him.
			for _, l := range logs.JSONLines("tool_call") {
				if c, _ := l["caller"].(map[string]any); c["user"] == bob.login && c["ip"] == carol.node.IP.String() && l["decision"] == "deny" {
					return
				}
			}
			t.Fatalf("no tool_call denial for %s from %s in the audit log:\n%s", bob.login, carol.node.IP, logs)
		case err == nil && !r.IsError:
			t.Fatalf("bob, from the removed node's address, was served whoami as the removed node: %s", textOf(r))
		case err == nil:
			t.Fatalf("whoami as bob from carol's old address: %s, want not found", textOf(r))
		}
		// A call that did not get through: try again.
		time.Sleep(50 * time.Millisecond)
	}
}

// textOf returns the text contents of a tool result, for messages.
func textOf(r *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
