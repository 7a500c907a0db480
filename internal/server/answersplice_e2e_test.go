package server_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// largeText is a text with what JSON escapes: quotes, backslashes,
// controls, HTML, U+2028 and invalid UTF-8, many times over.
var largeText = strings.Repeat("a\"b\\c\n<d>&é€😀\u2028\x01\xff", 64<<10)

// largeProvider answers "large" with largeText and "huge" with size
// bytes of text.
type largeProvider struct{ size int }

func (largeProvider) Name() string { return "large" }
func (largeProvider) Close() error { return nil }
func (p largeProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{
		{Tool: mcpgo.NewTool("large"), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			res := mcpgo.NewToolResultText(largeText)
			res.Content = append(res.Content, mcpgo.NewTextContent("and a small one"))
			return res, nil
		}},
		{Tool: mcpgo.NewTool("huge"), Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText(strings.Repeat("x", p.size)), nil
		}},
	}, nil
}

// largeResource is the URI of largeProvider's resource, whose text is
// largeText.
const largeResource = "large+file:///text"

func (largeProvider) Resources(context.Context) ([]mcpgo.Resource, []mcpgo.ResourceTemplate) {
	return []mcpgo.Resource{{URI: largeResource, Name: "text"}}, nil
}
func (largeProvider) ReadResource(_ context.Context, uri string) ([]mcpgo.ResourceContents, error) {
	if uri != largeResource {
		return nil, tools.ErrNotFound
	}
	return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: largeText}}, nil
}
func (largeProvider) SubscribeResource(context.Context, string, func()) (func(), error) {
	return nil, tools.ErrNotFound
}
func (largeProvider) CompleteResource(context.Context, string, mcpgo.CompleteArgument, mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return nil, tools.ErrNotFound
}
func (largeProvider) OnResourcesChanged(func()) {}

// TestLargeAnswersArriveWhole: a tool's large text and a large resource
// (written by tsmcp itself rather than encoded by mcp-go) arrive exactly as
// the provider wrote them, through mcp-go's client (a JSON response) and the official Go SDK's
// (2025-11-25 and the stateless 2026-07-28 protocol), with a small text
// beside it.
func TestLargeAnswersArriveWhole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, _ := startLimitsHost(t, "large-whole", func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}, Resources: []string{"*"}}}}
		c.MCP.Limits.AnswerBytesPerIdentity, c.MCP.Limits.AnswerBytesTotal = 64*config.MiB, 64*config.MiB
		o.Tools = server.Providers(tools.Builtin{}, largeProvider{size: 1})
	})
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	alice := startTailnet(t).callers()[0]
	want := strings.ToValidUTF8(largeText, "\uFFFD")

	tr, err := mcpgotransport.NewStreamableHTTP(endpoint, mcpgotransport.WithHTTPBasicClient(alice.httpClient()))
	if err != nil {
		t.Fatal(err)
	}
	cl := mcpgoclient.NewClient(tr, mcpgoclient.WithProtocolVersion(mcpgo.LATEST_LEGACY_PROTOCOL_VERSION))
	testutil.StartMCPGo(ctx, t, cl, "large-test")
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "large"
	res, err := cl.CallTool(ctx, req)
	if err != nil || len(res.Content) != 2 || res.Content[0].(mcpgo.TextContent).Text != want || res.Content[1].(mcpgo.TextContent).Text != "and a small one" {
		t.Fatalf("mcp-go: the large text did not arrive whole (err %v)", err)
	}
	rreq := mcpgo.ReadResourceRequest{}
	rreq.Params.URI = largeResource
	read, err := cl.ReadResource(ctx, rreq)
	if err != nil || len(read.Contents) != 1 || read.Contents[0].(mcpgo.TextResourceContents).Text != want {
		t.Fatalf("mcp-go: the large resource did not arrive whole (err %v)", err)
	}
	for _, version := range []string{mcpgo.LATEST_LEGACY_PROTOCOL_VERSION, ""} {
		client := sdk.NewClient(&sdk.Implementation{Name: "large-test", Version: "1"}, nil)
		s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: alice.httpClient(), MaxRetries: -1},
			&sdk.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "large"})
		s.Close()
		if err != nil || len(res.Content) != 2 || res.Content[0].(*sdk.TextContent).Text != want {
			t.Fatalf("go-sdk %q: the large text did not arrive whole (err %v)", version, err)
		}
	}
}

// TestUndeliveredAnswersAreReleased: six 21 MiB answers to a client that
// never reads them (raw tailnet connections, mcp.limits.write_timeout 2s)
// are released once the write deadline cuts them: the host's heap returns
// near where it was, instead of keeping encoding/json's pooled copies of
// each answer (about +147 MiB before answersplice.go).
func TestUndeliveredAnswersAreReleased(t *testing.T) {
	const size = 21 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, logs := startLimitsHost(t, "large-stalled", func(c *config.Config, o *server.Options) {
		c.MCP.Limits.WriteTimeout = 2 * time.Second
		c.MCP.Limits.CallsPerIdentity, c.MCP.Limits.CallsTotal = 16, 16
		c.MCP.Limits.AnswerBytesPerIdentity, c.MCP.Limits.AnswerBytesTotal = 256*config.MiB, 256*config.MiB
		o.Tools = server.Providers(tools.Builtin{}, largeProvider{size: size})
	})
	alice := startTailnet(t).callers()[0]
	base := "http://" + host.TailnetIP().String()
	resp := initialize(t, alice.httpClient(), base, true)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	runtime.GC()
	runtime.GC()
	before := heapInUse()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 6 {
		conn, err := alice.node.Dial(ctx, "tcp", host.TailnetIP().String()+":80")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"huge","arguments":{}}}`, i+10)
		fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: %s\r\nContent-Length: %d\r\n\r\n%s",
			host.TailnetIP(), sid, mcpgo.LATEST_LEGACY_PROTOCOL_VERSION, len(body), body)
	}
	eventually(t, "the six stalled answers are cut", func() bool {
		return len(logs.JSONLines("client stopped reading; closing its response")) >= 6
	})
	// The clients' connections stay open: what their peers would buffer
	// is not the host's to free.
	const bound = 40 << 20 // about 2 of the 6 answers' worth
	var grown int64
	eventually(t, "the host's heap returns near where it was", func() bool {
		runtime.GC()
		grown = int64(heapInUse()) - int64(before)
		return grown < bound
	})
	t.Logf("heap grown by %d MiB after six undelivered %d MiB answers", grown>>20, size>>20)
}
