package testutil

import (
	"context"
	"slices"
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
