package server_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpgoserver "github.com/mark3labs/mcp-go/server"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// The big upstream: how many of each it lists, and its own page size
// (which makes tsmcp follow its nextCursor over more than 100 pages).
const (
	bigTools     = 1000
	bigPrompts   = 120
	bigResources = 250
	bigTemplates = 60
	bigPageSize  = 7
	// hostPageSize is tsmcp's mcp.list_page_size in these tests: it
	// divides none of the counts.
	hostPageSize = 37
	// hostListTTL is tsmcp's mcp.list_ttl in these tests.
	hostListTTL = 90 * time.Second
)

// bigUpstream serves, on loopback, an mcp-go Streamable HTTP server that
// pages its own lists bigPageSize at a time, and returns its URL.
func bigUpstream(t *testing.T) string {
	t.Helper()
	m := mcpgoserver.NewMCPServer("big", "1", mcpgoserver.WithPaginationLimit(bigPageSize),
		mcpgoserver.WithResourceCapabilities(false, false), mcpgoserver.WithPromptCapabilities(false))
	for i := range bigTools {
		m.AddTool(mcpgo.NewTool(fmt.Sprintf("tool_%03d", i)), func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText("ok"), nil
		})
	}
	for i := range bigPrompts {
		m.AddPrompt(mcpgo.NewPrompt(fmt.Sprintf("prompt_%03d", i)), func(context.Context, mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
			return &mcpgo.GetPromptResult{}, nil
		})
	}
	for i := range bigResources {
		uri := fmt.Sprintf("big://item/%03d", i)
		m.AddResource(mcpgo.NewResource(uri, fmt.Sprintf("item %03d", i)), func(context.Context, mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
			return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, Text: "item"}}, nil
		})
	}
	for i := range bigTemplates {
		m.AddResourceTemplate(mcpgo.NewResourceTemplate(fmt.Sprintf("big://t%02d/{x}", i), fmt.Sprintf("template %02d", i)),
			func(context.Context, mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) { return nil, nil })
	}
	hs := httptest.NewServer(mcpgoserver.NewStreamableHTTPServer(m))
	t.Cleanup(hs.Close)
	return hs.URL + "/mcp"
}

// bigWants are the names and URIs a caller sees through tsmcp: every
// one when even is false, else those whose number is even.
type bigWants struct{ tools, prompts, resources, templates []string }

func wantBig(even bool) bigWants {
	var w bigWants
	keep := func(i int) bool { return !even || i%2 == 0 }
	for i := range bigTools {
		if keep(i) {
			w.tools = append(w.tools, fmt.Sprintf("big__tool_%03d", i))
		}
	}
	for i := range bigPrompts {
		if keep(i) {
			w.prompts = append(w.prompts, fmt.Sprintf("big__prompt_%03d", i))
		}
	}
	for i := range bigResources {
		if keep(i) {
			w.resources = append(w.resources, fmt.Sprintf("big+big://item/%03d", i))
		}
	}
	for i := range bigTemplates {
		if keep(i) {
			w.templates = append(w.templates, fmt.Sprintf("big+big://t%02d/{x}", i))
		}
	}
	return w
}

// evenPatterns are policy patterns allowing the even-numbered items: a
// filter that hides every other item, across every page boundary.
func evenPatterns(prefix string, width int) []string {
	var out []string
	for _, d := range []string{"0", "2", "4", "6", "8"} {
		if width == 0 {
			out = append(out, prefix+"*"+d)
			continue
		}
		out = append(out, prefix+"*"+d+"/{x}")
	}
	return out
}

// startBigHost starts a host bridging the big upstream with
// mcp.list_page_size hostPageSize: alice may use the even-numbered
// items, bob all of them.
func startBigHost(ctx context.Context, t *testing.T, tn *tailnet, name string, mod func(*config.Config)) (*server.Server, *logBuffer) {
	t.Helper()
	cs := tn.callers()
	up := bigUpstream(t)
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, _ *server.Options) {
		c.MCP.ListPageSize = hostPageSize
		c.MCP.ListTTL = hostListTTL
		c.Upstreams = []config.Upstream{{Name: "big", URL: up}}
		evenResources := append(evenPatterns("big+big://item/", 0), evenPatterns("big+big://t", 1)...)
		c.ACL.Rules = toRules([]aclRule{
			{src: cs[0].login, tools: evenPatterns("big__tool_", 0), prompts: evenPatterns("big__prompt_", 0), resources: evenResources},
			{src: cs[1].login, tools: []string{"big__*"}, prompts: []string{"big__*"}, resources: []string{"big+*"}},
		})
		if mod != nil {
			mod(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, []config.Upstream{{Name: "big"}})
	return host, logs
}

// checkOnceEach fails unless got holds each of want exactly once, and
// nothing else.
func checkOnceEach(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for g, n := range seen {
		if n > 1 {
			t.Errorf("%s: %s listed %d times", what, g, n)
		}
	}
	sorted := slices.Sorted(slices.Values(got))
	sorted = slices.Compact(sorted)
	if !slices.Equal(sorted, want) {
		t.Errorf("%s: got %d distinct (%d listed), want %d; first differences: %v", what, len(sorted), len(got), len(want), firstDiff(sorted, want))
	}
}

// firstDiff names a few items in only one of a and b.
func firstDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) && len(out) < 5 {
			out = append(out, "+"+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) && len(out) < 10 {
			out = append(out, "-"+x)
		}
	}
	return out
}

// TestPaginationBigUpstream bridges an upstream of 1,000 tools (and
// prompts, resources and templates) that pages its own lists 7 at a
// time: tsmcp follows its nextCursor to the end, and pages its merged,
// policy-filtered lists 37 at a time toward the clients. mcp-go's client
// and the official go-sdk client, following the cursors, see every item
// their policy allows exactly once; no page is longer than 37; a cursor
// that does not decode is -32602.
func TestPaginationBigUpstream(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	host, _ := startBigHost(ctx, t, tn, "pagination-big", nil)
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"

	for _, who := range []struct {
		c    caller
		even bool
	}{{cs[0], true}, {cs[1], false}} {
		want := wantBig(who.even)
		t.Run(who.c.name+"/go-sdk", func(t *testing.T) {
			s := streamableSession(ctx, t, endpoint, who.c)
			tools := collect(t, s.Tools(ctx, nil), func(x *sdk.Tool) string { return x.Name })
			prompts := collect(t, s.Prompts(ctx, nil), func(x *sdk.Prompt) string { return x.Name })
			resources := collect(t, s.Resources(ctx, nil), func(x *sdk.Resource) string { return x.URI })
			templates := collect(t, s.ResourceTemplates(ctx, nil), func(x *sdk.ResourceTemplate) string { return x.URITemplate })
			checkOnceEach(t, "tools", withoutBuiltins(tools), want.tools)
			checkOnceEach(t, "prompts", prompts, want.prompts)
			checkOnceEach(t, "resources", resources, want.resources)
			checkOnceEach(t, "templates", templates, want.templates)

			first, err := s.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Tools) != hostPageSize || first.NextCursor == "" {
				t.Errorf("first tools/list page: %d tools, next cursor %q; want %d and a cursor", len(first.Tools), first.NextCursor, hostPageSize)
			}
			firstRes, err := s.ListResources(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(firstRes.Resources) != hostPageSize || firstRes.NextCursor == "" {
				t.Errorf("first resources/list page: %d, next cursor %q; want %d and a cursor", len(firstRes.Resources), firstRes.NextCursor, hostPageSize)
			}
		})
		t.Run(who.c.name+"/mcp-go", func(t *testing.T) {
			tr, err := mcpgotransport.NewStreamableHTTP(endpoint, mcpgotransport.WithHTTPBasicClient(who.c.httpClient()))
			if err != nil {
				t.Fatal(err)
			}
			cl := mcpgoclient.NewClient(tr)
			testutil.StartMCPGo(ctx, t, cl, "pagination-test")
			tres, err := cl.ListTools(ctx, mcpgo.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var tools []string
			for _, tl := range tres.Tools {
				tools = append(tools, tl.Name)
			}
			pres, err := cl.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var prompts []string
			for _, p := range pres.Prompts {
				prompts = append(prompts, p.Name)
			}
			rres, err := cl.ListResources(ctx, mcpgo.ListResourcesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var resources []string
			for _, r := range rres.Resources {
				resources = append(resources, r.URI)
			}
			tmres, err := cl.ListResourceTemplates(ctx, mcpgo.ListResourceTemplatesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var templates []string
			for _, r := range tmres.ResourceTemplates {
				templates = append(templates, r.URITemplate.Raw())
			}
			checkOnceEach(t, "tools", withoutBuiltins(tools), want.tools)
			checkOnceEach(t, "prompts", prompts, want.prompts)
			checkOnceEach(t, "resources", resources, want.resources)
			checkOnceEach(t, "templates", templates, want.templates)
			checkCacheHints(ctx, t, cl, want.resources[0])
		})
	}

	t.Run("a cursor that does not decode is invalid params", func(t *testing.T) {
		s := streamableSession(ctx, t, endpoint, cs[1])
		for _, tt := range []struct {
			name string
			list func() error
		}{
			{name: "tools/list", list: func() error { _, err := s.ListTools(ctx, &sdk.ListToolsParams{Cursor: "%%%"}); return err }},
			{name: "prompts/list", list: func() error { _, err := s.ListPrompts(ctx, &sdk.ListPromptsParams{Cursor: "%%%"}); return err }},
			{name: "resources/list", list: func() error { _, err := s.ListResources(ctx, &sdk.ListResourcesParams{Cursor: "%%%"}); return err }},
			{name: "resources/templates/list", list: func() error {
				_, err := s.ListResourceTemplates(ctx, &sdk.ListResourceTemplatesParams{Cursor: "%%%"})
				return err
			}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.list()
				var we *jsonrpc.Error
				if !errors.As(err, &we) || we.Code != -32602 {
					t.Fatalf("err = %v, want a -32602 error", err)
				}
			})
		}
	})
}

// checkCacheHints asks each list of the 2026-07-28 protocol (mcp-go's
// client speaks it) for one page: each carries ttlMs mcp.list_ttl and
// cacheScope private; resources/read of uri does not take the lists' ttl.
func checkCacheHints(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, uri string) {
	t.Helper()
	if v := cl.ProtocolVersion(); v != mcpgo.ProtocolVersion20260728 {
		t.Fatalf("mcp-go negotiated %q; the test needs 2026-07-28", v)
	}
	want := hostListTTL.Milliseconds()
	check := func(what string, r *mcpgo.CacheableResult) {
		t.Helper()
		ttl, ok := r.TTL()
		if !ok || ttl != want || r.CacheScope != mcpgo.CacheScopePrivate {
			t.Errorf("%s: ttlMs %d (set %v), cacheScope %q; want %d, private", what, ttl, ok, r.CacheScope, want)
		}
	}
	if r, err := cl.ListToolsByPage(ctx, mcpgo.ListToolsRequest{}); err != nil {
		t.Fatalf("tools/list: %v", err)
	} else {
		check("tools/list", &r.CacheableResult)
	}
	if r, err := cl.ListPromptsByPage(ctx, mcpgo.ListPromptsRequest{}); err != nil {
		t.Fatalf("prompts/list: %v", err)
	} else {
		check("prompts/list", &r.CacheableResult)
	}
	if r, err := cl.ListResourcesByPage(ctx, mcpgo.ListResourcesRequest{}); err != nil {
		t.Fatalf("resources/list: %v", err)
	} else {
		check("resources/list", &r.CacheableResult)
	}
	if r, err := cl.ListResourceTemplatesByPage(ctx, mcpgo.ListResourceTemplatesRequest{}); err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	} else {
		check("resources/templates/list", &r.CacheableResult)
	}
	req := mcpgo.ReadResourceRequest{}
	req.Params.URI = uri
	read, err := cl.ReadResource(ctx, req)
	if err != nil {
		t.Fatalf("resources/read %s: %v", uri, err)
	}
	if ttl, _ := read.TTL(); ttl == want {
		t.Errorf("resources/read: ttlMs %d, the lists' ttl", ttl)
	}
}

// collect follows a go-sdk list iterator (which follows the cursors) to
// its end and returns the key of each item.
func collect[T any](t *testing.T, seq iter.Seq2[T, error], key func(T) string) []string {
	t.Helper()
	var out []string
	for x, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, key(x))
	}
	return out
}

// withoutBuiltins drops tsmcp's own tools (whoami and the like) from
// names.
func withoutBuiltins(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, "big__") })
}
