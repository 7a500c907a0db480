package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// session is what a test needs from any MCP client library.
type session interface {
	listTools(ctx context.Context) ([]string, error)
	whoami(ctx context.Context) (tools.WhoAmI, error)
	close() error
}

// connectFunc connects one client library over one transport as caller c.
type connectFunc func(ctx context.Context, t testing.TB, c caller, baseURL string) session

var clientLibs = []struct {
	name    string
	connect connectFunc
}{
	{"go-sdk/streamable", connectSDK(false)},
	{"go-sdk/sse", connectSDK(true)},
	{"mcp-go/streamable", connectMCPGo(false)},
	{"mcp-go/sse", connectMCPGo(true)},
}

// The official Go SDK.
type sdkSession struct{ cs *sdk.ClientSession }

func connectSDK(sse bool) connectFunc {
	return func(ctx context.Context, t testing.TB, c caller, baseURL string) session {
		t.Helper()
		client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-test", Version: "1"}, nil)
		var tr sdk.Transport
		if sse {
			tr = &sdk.SSEClientTransport{Endpoint: baseURL + "/sse", HTTPClient: c.httpClient()}
		} else {
			tr = &sdk.StreamableClientTransport{Endpoint: baseURL + "/mcp", HTTPClient: c.httpClient(), MaxRetries: -1}
		}
		cs, err := client.Connect(ctx, tr, nil)
		if err != nil {
			t.Fatalf("go-sdk connect as %s: %v", c.name, err)
		}
		return sdkSession{cs}
	}
}

func (s sdkSession) listTools(ctx context.Context) ([]string, error) {
	res, err := s.cs.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func (s sdkSession) whoami(ctx context.Context) (tools.WhoAmI, error) {
	var w tools.WhoAmI
	res, err := s.cs.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"})
	if err != nil {
		return w, err
	}
	if res.IsError {
		return w, errorf("whoami returned a tool error: %v", res.Content)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return w, err
	}
	return w, json.Unmarshal(b, &w)
}

func (s sdkSession) close() error { return s.cs.Close() }

// mcp-go's client.
type mcpgoSession struct{ c *mcpgoclient.Client }

func connectMCPGo(sse bool) connectFunc {
	return func(ctx context.Context, t testing.TB, c caller, baseURL string) session {
		t.Helper()
		var (
			cl  *mcpgoclient.Client
			err error
		)
		if sse {
			cl, err = mcpgoclient.NewSSEMCPClient(baseURL+"/sse", mcpgoclient.WithHTTPClient(c.httpClient()))
		} else {
			cl, err = mcpgoclient.NewStreamableHttpClient(baseURL+"/mcp", mcpgotransport.WithHTTPBasicClient(c.httpClient()))
		}
		if err != nil {
			t.Fatalf("mcp-go client: %v", err)
		}
		if err := cl.Start(ctx); err != nil {
			t.Fatalf("mcp-go start as %s: %v", c.name, err)
		}
		req := mcpgo.InitializeRequest{}
		req.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
		req.Params.ClientInfo = mcpgo.Implementation{Name: "tsmcp-test", Version: "1"}
		if _, err := cl.Initialize(ctx, req); err != nil {
			cl.Close()
			t.Fatalf("mcp-go initialize as %s: %v", c.name, err)
		}
		return mcpgoSession{cl}
	}
}

func (s mcpgoSession) listTools(ctx context.Context) ([]string, error) {
	res, err := s.c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	return names, nil
}

func (s mcpgoSession) whoami(ctx context.Context) (tools.WhoAmI, error) {
	var w tools.WhoAmI
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "whoami"
	res, err := s.c.CallTool(ctx, req)
	if err != nil {
		return w, err
	}
	if res.IsError {
		return w, errorf("whoami returned a tool error: %v", res.Content)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return w, err
	}
	return w, json.Unmarshal(b, &w)
}

func (s mcpgoSession) close() error { return s.c.Close() }

// TestClientsSeeTheirOwnIdentity connects every client library over every
// transport as each caller, through the tailnet, and checks that whoami
// reports that caller and no other.
func TestClientsSeeTheirOwnIdentity(t *testing.T) {
	tn := startTailnet(t)
	for _, lib := range clientLibs {
		for _, c := range tn.callers() {
			t.Run(lib.name+"/"+c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s := lib.connect(ctx, t, c, tn.hostURL)
				defer s.close()

				names, err := s.listTools(ctx)
				if err != nil {
					t.Fatalf("tools/list: %v", err)
				}
				if !slices.Contains(names, "whoami") {
					t.Fatalf("tools/list = %v, want whoami in it", names)
				}
				w, err := s.whoami(ctx)
				if err != nil {
					t.Fatalf("whoami: %v", err)
				}
				t.Logf("whoami: %+v", w)
				if w.Login != c.login {
					t.Errorf("login = %q, want %q", w.Login, c.login)
				}
				wantTags := c.tags
				if wantTags == nil {
					wantTags = []string{}
				}
				if !slices.Equal(w.Tags, wantTags) {
					t.Errorf("tags = %v, want %v", w.Tags, wantTags)
				}
				if w.TailnetIP != c.node.IP.String() {
					t.Errorf("tailnet_ip = %q, want %q", w.TailnetIP, c.node.IP)
				}
				if want := c.name + "."; len(w.Node) < len(want) || w.Node[:len(want)] != want {
					t.Errorf("node = %q, want %s<domain>", w.Node, want)
				}
			})
		}
	}
}
