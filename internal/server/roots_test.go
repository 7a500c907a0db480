package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// rootsFunc answers an mcp-go client's roots/list.
type rootsFunc func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error)

func (f rootsFunc) ListRoots(ctx context.Context, r mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return f(ctx, r)
}

// mcpgoRootsPeer connects an mcp-go Streamable HTTP client on a 2025-11-25
// session with its standalone GET stream (where mcp-go's server sends
// roots/list), declaring roots and answering with roots.
func mcpgoRootsPeer(ctx context.Context, t *testing.T, endpoint string, c caller, roots ...mcp.Root) *mcpgoclient.Client {
	t.Helper()
	return legacyMCPGo(ctx, t, endpoint, c, "roots-test-"+c.name, nil,
		mcpgoclient.WithRootsHandler(rootsFunc(func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
			return &mcp.ListRootsResult{Roots: roots}, nil
		})))
}

// TestBridgedRootsPerIdentity bridges server-everything per identity
// (evrp) and shared (evr) through the tailnet. Its get-roots-list tool
// asks the client for its roots (roots/list): alice (the official go-sdk
// client) and bob (mcp-go's) each see only their own roots; when alice
// changes hers (notifications/roots/list_changed) her child learns the new
// ones and bob's keeps his; ci, whose client declared no roots, gets none
// (the upstream's roots/list is refused). The shared child is not offered
// roots, so it does not offer get-roots-list.
func TestBridgedRootsPerIdentity(t *testing.T) {
	bin := testutil.EverythingBin(t)
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{
			{Name: "evr", Command: []string{bin}},
			{Name: "evrp", Command: []string{bin}, Isolation: config.IsolationPerIdentity},
		}
	})

	aliceClient := sdk.NewClient(&sdk.Implementation{Name: "roots-test-alice", Version: "1"}, nil)
	aliceClient.AddRoots(&sdk.Root{URI: "file:///work/alice-a", Name: "alice-a"})
	alice, err := aliceClient.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: cs[0].httpClient(), MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	bob := mcpgoRootsPeer(ctx, t, endpoint, cs[1], mcp.Root{URI: "file:///work/bob-b", Name: "bob-b"})
	var ch heard
	ci := mcpgoPeer(ctx, t, endpoint, cs[2], "ci", &ch)

	// The discovery child was offered roots, so get-roots-list is listed.
	// (A minute: the rest of the test needs the time.)
	lctx, lcancel := context.WithTimeout(ctx, time.Minute)
	defer lcancel()
	for names := sdkToolNames(ctx, t, alice); !slices.Contains(names, "evrp__get-roots-list"); names = sdkToolNames(ctx, t, alice) {
		select {
		case <-lctx.Done():
			t.Fatalf("evrp__get-roots-list never listed (have %q): tsmcp does not offer roots to per-identity upstreams", names)
		case <-time.After(50 * time.Millisecond):
		}
	}

	aliceRoots := func() string {
		t.Helper()
		text, isErr := sdkCall(ctx, t, alice, "evrp__get-roots-list", "", nil)
		if isErr {
			t.Fatalf("alice's get-roots-list = %q (isError)", text)
		}
		return text
	}
	t.Run("each caller sees their own roots", func(t *testing.T) {
		if text := aliceRoots(); !strings.Contains(text, "file:///work/alice-a") || strings.Contains(text, "bob") {
			t.Errorf("alice's get-roots-list = %q, want alice-a only", text)
		}
		text, isErr := mcpgoCall(ctx, t, bob, "evrp__get-roots-list", "", nil)
		if isErr || !strings.Contains(text, "file:///work/bob-b") || strings.Contains(text, "alice") {
			t.Errorf("bob's get-roots-list = %q (isError %v), want bob-b only", text, isErr)
		}
	})

	t.Run("a caller without roots gets none", func(t *testing.T) {
		text, isErr := mcpgoCall(ctx, t, ci, "evrp__get-roots-list", "", nil)
		if isErr || strings.Contains(text, "file://") || !strings.Contains(text, "no roots are currently configured") {
			t.Errorf("ci's get-roots-list = %q (isError %v), want no roots", text, isErr)
		}
		if !slices.ContainsFunc(logs.JSONLines("upstream request not forwarded"), func(m map[string]any) bool {
			return m["method"] == "roots/list" && strings.Contains(m["err"].(string), "did not declare roots")
		}) {
			t.Errorf("no log line says ci's client did not declare roots; have %v", logs.JSONLines("upstream request not forwarded"))
		}
	})

	t.Run("shared: no roots offered", func(t *testing.T) {
		if names := sdkToolNames(ctx, t, alice); slices.Contains(names, "evr__get-roots-list") {
			t.Errorf("the shared upstream lists get-roots-list: tsmcp offered it roots")
		}
		res, err := alice.CallTool(ctx, &sdk.CallToolParams{Name: "evr__get-roots-list", Arguments: map[string]any{}})
		if err == nil && !res.IsError {
			t.Errorf("evr__get-roots-list succeeded: %+v", res.Content)
		}
	})

	t.Run("list_changed reaches the caller's own child", func(t *testing.T) {
		aliceClient.AddRoots(&sdk.Root{URI: "file:///work/alice-a2", Name: "alice-a2"})
		for text := aliceRoots(); !strings.Contains(text, "file:///work/alice-a2"); text = aliceRoots() {
			select {
			case <-ctx.Done():
				t.Fatalf("alice's child never saw her new roots: %q", text)
			case <-time.After(50 * time.Millisecond):
			}
		}
		text, isErr := mcpgoCall(ctx, t, bob, "evrp__get-roots-list", "", nil)
		if isErr || !strings.Contains(text, "file:///work/bob-b") || strings.Contains(text, "alice") {
			t.Errorf("bob's get-roots-list = %q (isError %v), want bob-b only", text, isErr)
		}
	})
}

// sdkToolNames lists the tools a go-sdk session sees.
func sdkToolNames(ctx context.Context, t *testing.T, s *sdk.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// TestBridgedRootsStateless: a per-identity child's roots/list during the
// call of a caller on the stateless protocol (2026-07-28) reaches that
// caller as an input_required result (the go-sdk and mcp-go clients
// answer it by themselves) and the child gets the caller's own roots. A
// stateless caller that declared no roots (or no elicitation) is not
// asked for them: the child's request is refused.
func TestBridgedRootsStateless(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{callsUpstream(t, "pi", config.IsolationPerIdentity, 5*time.Second)}
	})
	// mcp-go's client on 2026-07-28 (its default: server/discover),
	// answering roots/list input requests with roots (none: no roots
	// capability).
	stateless := func(c caller, roots ...mcp.Root) *mcpgoclient.Client {
		tr, err := mcpgotransport.NewStreamableHTTP(endpoint, mcpgotransport.WithHTTPBasicClient(c.httpClient()))
		if err != nil {
			t.Fatal(err)
		}
		var opts []mcpgoclient.ClientOption
		if roots != nil {
			opts = append(opts, mcpgoclient.WithRootsHandler(rootsFunc(func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
				return &mcp.ListRootsResult{Roots: roots}, nil
			})))
		}
		cl := mcpgoclient.NewClient(tr, opts...)
		t.Cleanup(func() { cl.Close() })
		if err := cl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		init := mcp.InitializeRequest{}
		init.Params.ClientInfo = mcp.Implementation{Name: "roots-stateless-" + c.name, Version: "1"}
		if _, err := cl.Initialize(ctx, init); err != nil {
			t.Fatal(err)
		}
		if v := cl.ProtocolVersion(); !mcp.IsModernProtocol(v) {
			t.Fatalf("%s's client speaks %q, want the stateless protocol", c.name, v)
		}
		return cl
	}
	// The official go-sdk client on 2026-07-28 (its default), which
	// answers input requests by itself.
	aliceClient := sdk.NewClient(&sdk.Implementation{Name: "roots-stateless-alice", Version: "1"}, nil)
	aliceClient.AddRoots(&sdk.Root{URI: "file:///work/alice-s", Name: "alice-s"})
	alice, err := aliceClient.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: cs[0].httpClient(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	bob := stateless(cs[1], mcp.Root{URI: "file:///work/bob-s", Name: "bob-s"})
	ci := stateless(cs[2])

	t.Run("alice, go-sdk", func(t *testing.T) {
		// The go-sdk needs params in a roots/list input request
		// (rpcanswer.go).
		if text, isErr := sdkCall(ctx, t, alice, "pi__roots", "", map[string]any{}); isErr || text != "roots [file:///work/alice-s]" {
			t.Errorf("alice's pi__roots = %q (isError %v), want her roots", text, isErr)
		}
	})
	t.Run("bob, mcp-go", func(t *testing.T) {
		if text, isErr := mcpgoCall(ctx, t, bob, "pi__roots", "", nil); isErr || text != "roots [file:///work/bob-s]" {
			t.Errorf("bob's pi__roots = %q (isError %v), want his roots", text, isErr)
		}
	})
	t.Run("a caller without elicitation is not asked", func(t *testing.T) {
		if text, isErr := mcpgoCall(ctx, t, ci, "pi__elicit", "", map[string]any{"label": "ci-q"}); !isErr || !strings.Contains(text, "elicitation failed") {
			t.Errorf("ci's pi__elicit = %q (isError %v), want the child's elicitation refused", text, isErr)
		}
		if !slices.ContainsFunc(logs.JSONLines("upstream request not forwarded"), func(m map[string]any) bool {
			return m["method"] == "elicitation/create" && strings.Contains(fmt.Sprint(m["err"]), "did not declare elicitation")
		}) {
			t.Errorf("no log line says ci's client did not declare elicitation; have %v", logs.JSONLines("upstream request not forwarded"))
		}
	})
	t.Run("a caller without roots is not asked", func(t *testing.T) {
		if text, isErr := mcpgoCall(ctx, t, ci, "pi__roots", "", nil); !isErr || !strings.Contains(text, "roots failed") {
			t.Errorf("ci's pi__roots = %q (isError %v), want the child's roots/list refused", text, isErr)
		}
		if !slices.ContainsFunc(logs.JSONLines("upstream request not forwarded"), func(m map[string]any) bool {
			return m["method"] == "roots/list" && strings.Contains(fmt.Sprint(m["err"]), "did not declare roots")
		}) {
			t.Errorf("no log line says ci's client did not declare roots; have %v", logs.JSONLines("upstream request not forwarded"))
		}
	})
}
