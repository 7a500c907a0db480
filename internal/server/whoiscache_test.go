package server_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// whoisRuns numbers the hosts of TestWhoIsCacheFilterOnlyGrantChange.
var whoisRuns atomic.Int32

// staleWhoIsForDemo, when STALE_WHOIS_DEMO is set, runs the WhoIs
// cache tests with invalidation off: they must then fail, which shows
// they test the invalidation.
func staleWhoIsForDemo(o *server.Options) {
	if os.Getenv("STALE_WHOIS_DEMO") != "" {
		server.StaleWhoIs(o)
	}
}

// untilRefused calls whoami in s until it is refused as not found, and
// fails the test if ctx ends first. Each call before the change reaches
// the host succeeds; with a stale cache none is ever refused.
func untilRefused(ctx context.Context, t *testing.T, s *sdk.ClientSession, what string) {
	t.Helper()
	for {
		_, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"})
		if err != nil && strings.Contains(err.Error(), "not found") {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: whoami still allowed (last error %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWhoIsCacheFilterOnlyGrantChange revokes a grant the way production
// control does, with a MapResponse carrying only PacketFilters: no peer
// change, no netmap, no IPN bus notification. The host's WhoIs cache must
// not keep the old capabilities: the engine's filter changed.
func TestWhoIsCacheFilterOnlyGrantChange(t *testing.T) {
	tn := startTailnet(t)
	carol := tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(carol.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["whoami"]}`}})
	defer tn.net.SetPeerCaps(carol.node.IP, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A fresh name per run: PushGrants finds the host by name, and with
	// -count a previous run's host may still be known to control.
	hostname := fmt.Sprintf("whois-filter-%d", whoisRuns.Add(1))
	host, err := startHost(ctx, tn.net, hostname, &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{} // grants only
		staleWhoIsForDemo(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	s := streamableSession(ctx, t, "http://"+host.TailnetIP().String()+"/mcp", carol)
	for range 5 { // warm the cache
		if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
			t.Fatalf("whoami with the grant: %v %+v", err, r)
		}
	}
	// The cache serves repeated requests (a peer's online state may
	// change meanwhile, so not every one).
	if hits, misses := server.WhoIsCacheStats(host); hits == 0 {
		t.Fatalf("WhoIs cache: %d hits, %d misses after repeated calls; want hits", hits, misses)
	}

	tn.net.SetPeerCaps(carol.node.IP, nil)
	if err := tn.net.PushGrants(hostname); err != nil {
		t.Fatal(err)
	}
	untilRefused(ctx, t, s, "after a filter-only grant revocation")
}

// TestWhoIsCachePeerRetagged: a user's node that becomes a tagged node is
// judged by its tags from the next request on. The change reaches the host
// as a peer change (an IPN bus notification), not a filter change.
func TestWhoIsCachePeerRetagged(t *testing.T) {
	tn := startTailnet(t)
	carol := tn.carolCaller()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "whois-retag", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{carol.login}, Tools: []string{"whoami"}}}}
		staleWhoIsForDemo(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	s := streamableSession(ctx, t, "http://"+host.TailnetIP().String()+"/mcp", carol)
	for range 3 {
		if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
			t.Fatalf("whoami as %s: %v %+v", carol.login, err, r)
		}
	}

	st, err := carol.node.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := tn.net.Control.Node(st.Self.PublicKey)
	if node == nil {
		t.Fatal("control does not know carol's node")
	}
	node.Tags = []string{"tag:ci"}
	tn.net.Control.UpdateNode(node)
	defer func() {
		node.Tags = nil
		tn.net.Control.UpdateNode(node)
	}()
	untilRefused(ctx, t, s, "after the caller's node was tagged")
}
