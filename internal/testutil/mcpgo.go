package testutil

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// StartMCPGo starts cl and runs the initialize handshake (the latest
// protocol version, client name name); cl is closed when the test ends.
func StartMCPGo(ctx context.Context, t testing.TB, cl *client.Client, name string) {
	t.Helper()
	t.Cleanup(func() { cl.Close() })
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: name, Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
}

// MCPGoToolNames lists the tools cl sees, sorted.
func MCPGoToolNames(ctx context.Context, t testing.TB, cl *client.Client) []string {
	t.Helper()
	res, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

// ErrToolResult is MCPGoCallText's error for a result with isError set.
var ErrToolResult = errors.New("tool returned isError")

// MCPGoCallText calls the tool name with args and returns its text content,
// one line per text block. A result with isError gives its text and
// ErrToolResult; a failed request gives the client's error.
func MCPGoCallText(ctx context.Context, cl *client.Client, name string, args map[string]any) (string, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := cl.CallTool(ctx, req)
	if err != nil {
		return "", err
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	if res.IsError {
		return strings.Join(text, "\n"), ErrToolResult
	}
	return strings.Join(text, "\n"), nil
}
