package server_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// startURIHost starts a host bridging server-everything (upstream
// "every", shared stdio: the TypeScript SDK, which parses URIs as WHATWG
// URLs and so resolves dot segments) and the files server (upstream
// "files": a filesystem-style resolver, see filesserver_test.go). alice
// may use everything; bob the tools and prompts of both, and only the
// resources under every+demo://resource/static/document/ and
// files+file:///handbook/.
func startURIHost(ctx context.Context, t *testing.T, tn *tailnet, logs *logBuffer) *server.Server {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cs := tn.callers()
	ups := []config.Upstream{
		{Name: "every", Command: []string{testutil.EverythingBin(t)}},
		{Name: "files", Command: []string{self}, Env: map[string]string{stdioServerEnv: filesMode}},
	}
	host, err := startHost(ctx, tn.net, "uris-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), logs, func(c *config.Config, _ *server.Options) {
		c.ACL.Rules = toRules([]aclRule{
			{src: cs[0].login, tools: all, prompts: all, resources: all},
			{src: cs[1].login, tools: []string{"every__*", "files__*"}, prompts: []string{"every__*", "files__*"},
				resources: []string{"every+demo://resource/static/document/*", "files+file:///handbook/*"}},
		})
		c.Upstreams = ups
		c.MCP.Keepalive = config.Default().MCP.Keepalive // see startFeatureHost
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, ups)
	return host
}

// uriSpellings are spellings of URIs outside bob's resource patterns (or,
// for the single-dot ones, inside them) that start with a prefix those
// patterns allow: each escapes the pattern once an upstream resolves it
// (the comment says how), or is a spelling that must not be decided as
// written. canonical is false for a spelling the policy refuses as not
// canonical, whoever asks; true for one decided as written (bob is
// refused by his patterns, alice reads it).
var uriSpellings = []struct {
	name      string
	uri       string
	canonical bool
}{
	// server-everything (WHATWG URL parsing).
	{name: "every: ../.. (to dynamic/text/1)", uri: "every+demo://resource/static/document/../../dynamic/text/1"},
	{name: "every: %2e%2e", uri: "every+demo://resource/static/document/%2e%2e/%2e%2e/dynamic/text/1"},
	{name: "every: %2E%2E", uri: "every+demo://resource/static/document/%2E%2E/%2E%2E/dynamic/text/1"},
	{name: "every: .%2E and %2e.", uri: "every+demo://resource/static/document/.%2E/%2e./dynamic/text/1"},
	{name: "every: x/../../..", uri: "every+demo://resource/static/document/x/../../../dynamic/text/1"},
	{name: "every: .. past the root", uri: "every+demo://resource/static/document/../../../../../../../dynamic/text/1"},
	{name: "every: ./ inside the pattern", uri: "every+demo://resource/static/document/./architecture.md"},
	{name: "every: %2E/ inside the pattern", uri: "every+demo://resource/static/document/%2E/architecture.md"},
	{name: "every: // then ..", uri: "every+demo://resource/static/document//../../dynamic/text/1"},
	{name: "every: // inside the pattern", uri: "every+demo://resource/static/document//architecture.md"},
	{name: "every: %2f", uri: "every+demo://resource/static/document/..%2f..%2fdynamic/text/1"},
	{name: "every: %2F", uri: "every+demo://resource/static/document/..%2F..%2Fdynamic/text/1"},
	{name: "every: backslashes", uri: `every+demo://resource/static/document/..\..\dynamic/text/1`},
	{name: "every: %5c", uri: "every+demo://resource/static/document/..%5c..%5cdynamic/text/1"},
	{name: "every: upper-case scheme and host with ..", uri: "every+DEMO://RESOURCE/static/document/../../dynamic/text/1"},
	{name: "every: upper-case scheme (WHATWG lower-cases it)", uri: "every+DEMO://resource/dynamic/text/1", canonical: true},
	{name: "every: dot segments in the query", uri: "every+demo://resource/static/document/x?/../../dynamic/text/1"},
	{name: "every: dot segments in the fragment", uri: "every+demo://resource/static/document/x#/../../dynamic/text/1"},
	{name: "every: %252e%252e (double encoding)", uri: "every+demo://resource/static/document/%252e%252e/%252e%252e/dynamic/text/1"},
	{name: "every: encoded unreserved %61", uri: "every+demo://resource/static/document/%61rchitecture.md"},
	{name: "every: ..; path parameters", uri: "every+demo://resource/static/document/..;/..;/dynamic/text/1"},
	// The files server (decodes everything, \ is /, path.Clean).
	{name: "files: ../ (to /etc/passwd)", uri: "files+file:///handbook/../etc/passwd"},
	{name: "files: .. past the root", uri: "files+file:///handbook/../../../../etc/passwd"},
	{name: "files: %2e%2e", uri: "files+file:///handbook/%2e%2e/secret/plans.md"},
	{name: "files: %2E%2E", uri: "files+file:///handbook/%2E%2E/secret/plans.md"},
	{name: "files: %2e%2e%2f", uri: "files+file:///handbook/%2e%2e%2fsecret/plans.md"},
	{name: "files: ..%2f", uri: "files+file:///handbook/..%2fsecret/plans.md"},
	{name: "files: ..%2F..%2F", uri: "files+file:///handbook/..%2F..%2Fsecret%2Fplans.md"},
	{name: "files: backslashes", uri: `files+file:///handbook/..\secret\plans.md`},
	{name: "files: %5c", uri: "files+file:///handbook/..%5csecret%5cplans.md"},
	{name: "files: // then .. (RFC removal keeps /handbook, path.Clean does not)", uri: "files+file:///handbook//../secret/plans.md"},
	{name: "files: ./ inside the pattern", uri: "files+file:///handbook/./intro.md"},
	{name: "files: dot segments in the query", uri: "files+file:///handbook/x?/../../etc/passwd"},
	{name: "files: dot segments in the fragment", uri: "files+file:///handbook/x#/../../etc/passwd"},
	{name: "files: %252e%252e (double decoding)", uri: "files+file:///handbook/%252e%252e/etc/passwd"},
	{name: "files: upper-case scheme with ..", uri: "files+FILE:///handbook/../etc/passwd"},
	{name: "files: upper-case host with ..", uri: "files+file://LOCALHOST/handbook/../etc/passwd"},
	{name: "files: upper-case scheme (it reads /etc/passwd)", uri: "files+FILE:///etc/passwd", canonical: true},
}

// TestResourceURISpellings: no spelling of a URI lets a caller read,
// subscribe to or complete a resource outside its patterns, on an
// upstream that resolves URIs as WHATWG URLs (server-everything) or as
// file paths (the files server); a URI not in canonical form is refused
// whoever asks, and fails exactly like a missing resource. Every URI in
// an answer (read contents, resource_link and embedded resources in tool
// results and prompt messages) is decided again: what the caller may not
// read is withheld, with an audit line.
func TestResourceURISpellings(t *testing.T) {
	tn := startTailnet(t)
	alice, bob, carol := tn.callers()[0], tn.callers()[1], tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(carol.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["every__*"],"prompts":["every__*"],"resources":["every+demo://resource/dynamic/text/*"]}`}})
	defer tn.net.SetPeerCaps(carol.node.IP, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startURIHost(ctx, t, tn, logs)
	base := "http://" + host.TailnetIP().String()
	as := featSession(ctx, t, base+"/mcp", alice, nil)
	bs := featSession(ctx, t, base+"/mcp", bob, nil)
	cs := featSession(ctx, t, base+"/mcp", carol, nil)
	missing := readErr(ctx, t, as, "every+demo://resource/static/document/no-such.md")

	t.Run("canonical URIs inside the patterns read", func(t *testing.T) {
		for _, uri := range []string{"every+" + staticDoc, "files+file:///handbook/intro.md"} {
			if got, err := readURIs(ctx, bs, uri); err != nil || !slices.Equal(got, []string{uri}) {
				t.Errorf("bob reads %s: contents %v, %v", uri, got, err)
			}
		}
		for _, uri := range []string{"every+demo://resource/dynamic/text/1", "files+file:///secret/plans.md"} {
			if got, err := readURIs(ctx, as, uri); err != nil || !slices.Equal(got, []string{uri}) {
				t.Errorf("alice reads %s: contents %v, %v", uri, got, err)
			}
		}
	})
	t.Run("every spelling outside bob's patterns fails like a missing resource", func(t *testing.T) {
		for _, sp := range uriSpellings {
			t.Run(sp.name, func(t *testing.T) {
				got, err := readURIs(ctx, bs, sp.uri)
				if err == nil {
					t.Fatalf("bob read %s: contents %v", sp.uri, got)
				}
				if err.Error() != missing {
					t.Errorf("bob reading %s failed with %q, a missing resource with %q", sp.uri, err, missing)
				}
				wantReason := "no rule or grant allows the resource"
				if !sp.canonical {
					wantReason = "not in canonical form"
				}
				if l := lastAudit(logs, "resource_read", sp.uri, bob.login); l == nil || l["decision"] != "deny" || !strings.Contains(l["reason"].(string), wantReason) {
					t.Errorf("bob's audit line for %s: %v, want a deny with a reason containing %q", sp.uri, l, wantReason)
				}
			})
		}
	})
	t.Run("a URI not in canonical form is refused whoever asks", func(t *testing.T) {
		for _, sp := range uriSpellings {
			got, err := readURIs(ctx, as, sp.uri)
			if sp.canonical {
				if err != nil || len(got) != 1 {
					t.Errorf("alice reads %s: contents %v, %v", sp.uri, got, err)
				}
				continue
			}
			if err == nil || err.Error() != missing {
				t.Errorf("alice reads %s: contents %v, %v; want %q", sp.uri, got, err, missing)
			}
		}
	})
	t.Run("contents naming a resource outside the patterns are withheld", func(t *testing.T) {
		// /handbook/latest links to /secret/plans.md: the answer names
		// files+file:///secret/plans.md, which bob may not read.
		const uri = "files+file:///handbook/latest"
		if got, err := readURIs(ctx, bs, uri); err == nil || err.Error() != missing {
			t.Errorf("bob reads %s: contents %v, %v; want %q", uri, got, err, missing)
		}
		if l := lastAudit(logs, "resource_withheld", "files+file:///secret/plans.md", bob.login); l == nil || l["decision"] != "deny" || l["in"] != "resources/read "+uri {
			t.Errorf("no resource_withheld line for bob's read of %s: %v", uri, l)
		}
		if got, err := readURIs(ctx, as, uri); err != nil || !slices.Equal(got, []string{"files+file:///secret/plans.md"}) {
			t.Errorf("alice reads %s: contents %v, %v", uri, got, err)
		}
	})
	t.Run("resource_link and embedded resources in tool results", func(t *testing.T) {
		for _, c := range []struct {
			who  string
			s    *sdk.ClientSession
			tool string
			args map[string]any
			want []string
		}{
			{"bob", bs, "files__links", nil, []string{"files+file:///handbook/intro.md", "files+file:///handbook/intro.md"}},
			{"alice", as, "files__links", nil, []string{"files+file:///handbook/intro.md", "files+file:///secret/plans.md", "files+file:///handbook/intro.md", "files+file:///etc/passwd"}},
			{"bob", bs, "every__get-resource-links", map[string]any{"count": 4}, nil},
			{"carol", cs, "every__get-resource-links", map[string]any{"count": 4}, []string{"every+demo://resource/dynamic/text/2", "every+demo://resource/dynamic/text/4"}},
			{"bob", bs, "every__get-resource-reference", map[string]any{"resourceType": "Text", "resourceId": 3}, nil},
			{"carol", cs, "every__get-resource-reference", map[string]any{"resourceType": "Text", "resourceId": 3}, []string{"every+demo://resource/dynamic/text/3"}},
		} {
			res, err := c.s.CallTool(ctx, &sdk.CallToolParams{Name: c.tool, Arguments: c.args})
			if err != nil || res.IsError {
				t.Fatalf("%s calls %s: %v %+v", c.who, c.tool, err, res)
			}
			if got := contentURIs(res.Content); !slices.Equal(got, c.want) {
				t.Errorf("%s's %s result names %q, want %q", c.who, c.tool, got, c.want)
			}
			if !hasText(res.Content) {
				t.Errorf("%s's %s result lost its text: %+v", c.who, c.tool, res.Content)
			}
		}
		if l := lastAudit(logs, "resource_withheld", "files+file:///secret/plans.md", bob.login); l == nil || l["in"] != "tools/call files__links" {
			t.Errorf("no resource_withheld line for bob's files__links: %v", l)
		}
	})
	t.Run("resource_link and embedded resources in prompt messages", func(t *testing.T) {
		for _, c := range []struct {
			who    string
			s      *sdk.ClientSession
			prompt string
			args   map[string]string
			want   []string
		}{
			{"bob", bs, "files__files-prompt", nil, []string{"files+file:///handbook/intro.md", "files+file:///handbook/intro.md"}},
			{"alice", as, "files__files-prompt", nil, []string{"files+file:///handbook/intro.md", "files+file:///secret/plans.md", "files+file:///handbook/intro.md"}},
			{"bob", bs, "every__resource-prompt", map[string]string{"resourceType": "Text", "resourceId": "4"}, nil},
			{"carol", cs, "every__resource-prompt", map[string]string{"resourceType": "Text", "resourceId": "4"}, []string{"every+demo://resource/dynamic/text/4"}},
		} {
			res, err := c.s.GetPrompt(ctx, &sdk.GetPromptParams{Name: c.prompt, Arguments: c.args})
			if err != nil {
				t.Fatalf("%s gets %s: %v", c.who, c.prompt, err)
			}
			var content []sdk.Content
			for _, m := range res.Messages {
				content = append(content, m.Content)
			}
			if got := contentURIs(content); !slices.Equal(got, c.want) {
				t.Errorf("%s's %s messages name %q, want %q", c.who, c.prompt, got, c.want)
			}
			if !hasText(content) {
				t.Errorf("%s's %s messages lost their text: %+v", c.who, c.prompt, content)
			}
		}
	})
	t.Run("subscribe, listen and completion decide on the same rule", func(t *testing.T) {
		escape := "every+demo://resource/static/document/../../dynamic/text/1"
		// resources/subscribe (mcp-go, legacy SSE).
		mg := mcpgoSSE(ctx, t, base, bob)
		sreq := mcpgo.SubscribeRequest{}
		sreq.Params.URI = escape
		if err := mg.Subscribe(ctx, sreq); err != nil {
			t.Fatal(err) // a subscribe always answers success
		}
		// subscriptions/listen (go-sdk, 2026-07-28).
		listenURI := "every+demo://resource/static/document/%2e%2e/%2e%2e/dynamic/text/2"
		ls := featSession(ctx, t, base+"/mcp", bob, nil)
		subCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ls.Subscribe(subCtx, &sdk.SubscribeParams{URI: listenURI}) }()
		defer wg.Wait()
		defer stop()
		for _, uri := range []string{escape, listenURI} {
			waitAudit(ctx, t, logs, "resource_subscribe", uri, 1)
			if l := lastAudit(logs, "resource_subscribe", uri, bob.login); l["decision"] != "deny" || l["outcome"] != "refused" || !strings.Contains(l["reason"].(string), "not in canonical form") {
				t.Errorf("bob's subscription to %s: %v, want refused as not canonical", uri, l)
			}
		}
		// completion/complete of a template spelled with dot segments.
		ref := &sdk.CompleteReference{Type: "ref/resource", URI: "every+demo://resource/static/document/../../dynamic/text/{resourceId}"}
		if got := completeErr(ctx, t, bs, ref); got != completeErr(ctx, t, as, &sdk.CompleteReference{Type: "ref/resource", URI: "every+demo://nothing/{x}"}) {
			t.Errorf("bob's completion of %s failed with %q, unlike a missing template", ref.URI, got)
		}
		if l := lastAudit(logs, "completion", ref.URI, bob.login); l == nil || l["decision"] != "deny" || !strings.Contains(l["reason"].(string), "not in canonical form") {
			t.Errorf("bob's completion audit line: %v, want a deny as not canonical", l)
		}
	})
}

// readURIs reads uri and returns the URIs its contents name.
func readURIs(ctx context.Context, s *sdk.ClientSession, uri string) ([]string, error) {
	res, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range res.Contents {
		out = append(out, c.URI)
	}
	return out, nil
}

// contentURIs lists the URIs the resource_link and embedded resource items
// of content name, in order.
func contentURIs(content []sdk.Content) []string {
	var out []string
	for _, c := range content {
		switch c := c.(type) {
		case *sdk.ResourceLink:
			out = append(out, c.URI)
		case *sdk.EmbeddedResource:
			out = append(out, c.Resource.URI)
		}
	}
	return out
}

// hasText reports whether content has a text item.
func hasText(content []sdk.Content) bool {
	for _, c := range content {
		if _, ok := c.(*sdk.TextContent); ok {
			return true
		}
	}
	return false
}

// lastAudit returns the last audit line msg naming uri for the caller
// with login; nil when there is none.
func lastAudit(logs *logBuffer, msg, uri, login string) map[string]any {
	var last map[string]any
	for _, l := range logs.JSONLines(msg) {
		caller, _ := l["caller"].(map[string]any)
		if l["uri"] == uri && caller["user"] == login {
			last = l
		}
	}
	return last
}
