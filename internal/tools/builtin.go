package tools

import (
	"context"
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Builtin is the provider of tsmcp's built-in tools. Its zero value is
// ready to use.
type Builtin struct{}

// Name implements Provider.
func (Builtin) Name() string { return "builtin" }

// Close implements Provider; built-in tools hold nothing.
func (Builtin) Close() error { return nil }

// Tools implements Provider.
func (Builtin) Tools(context.Context) ([]Tool, error) {
	return []Tool{whoamiTool()}, nil
}

// WhoAmI is what the whoami tool returns: the caller as the host sees it.
type WhoAmI struct {
	// Login is the user's login; empty for a tagged node.
	Login string `json:"login"`
	// DisplayName is the user's display name; empty for a tagged node.
	DisplayName string `json:"display_name,omitempty"`
	// Node is the caller's node name.
	Node string `json:"node"`
	// Tags are the node's tags; empty for a user's node.
	Tags []string `json:"tags"`
	// TailnetIP is the caller's tailnet address.
	TailnetIP string `json:"tailnet_ip"`
	// Shared is true for a node shared in from another tailnet.
	Shared bool `json:"shared,omitempty"`
}

func whoamiTool() Tool {
	def := mcp.NewTool("whoami",
		mcp.WithDescription("Shows how this tsmcp host sees you on the tailnet: your login, node name, tags and tailnet IP."),
		mcp.WithReadOnlyHintAnnotation(true),
		mcp.WithDestructiveHintAnnotation(false),
		mcp.WithIdempotentHintAnnotation(true),
		mcp.WithOpenWorldHintAnnotation(false),
		mcp.WithOutputSchema[WhoAmI](),
	)
	return Tool{Tool: def, Handler: whoami}
}

func whoami(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		// The host never calls a tool without an identity; refuse anyway.
		return textError("no caller identity"), nil
	}
	w := WhoAmI{
		Login:       id.LoginName,
		DisplayName: id.DisplayName,
		Node:        id.NodeName,
		Tags:        id.Tags,
		Shared:      id.Shared,
	}
	if w.Tags == nil {
		w.Tags = []string{}
	}
	if id.TailnetIP.IsValid() {
		w.TailnetIP = id.TailnetIP.String()
	}
	text, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return mcp.NewToolResultStructured(w, string(text)), nil
}
