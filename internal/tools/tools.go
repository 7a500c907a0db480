// Package tools defines the tools tsmcp serves and the providers that supply
// them: the built-in tools here, and (in later packages) declarative exec and
// HTTP tools and tools bridged from upstream MCP servers.
//
// Access control is not a provider's concern: the host asks the policy
// before listing or calling any tool, using the identity in the context.
package tools

import (
	"context"
	"fmt"
	"regexp"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// NamePattern is the syntax of a tool name, the limit of the major model
// APIs.
var NamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// Tool is one MCP tool: its definition as clients see it and its handler.
type Tool = server.ServerTool

// Provider supplies tools. Tools is called once at start-up; Close releases
// whatever the provider holds (child processes, connections).
type Provider interface {
	// Name identifies the provider in logs and errors.
	Name() string
	// Tools returns the provider's tools.
	Tools(ctx context.Context) ([]Tool, error)
	// Close releases the provider's resources. It is called once, after
	// the host has stopped calling the provider's tools.
	Close() error
}

// Notifier is implemented by providers whose tools change while the host
// runs (bridged upstreams: a child that (re)starts, an upstream's
// notifications/tools/list_changed). The host calls OnToolsChanged once,
// before Tools; after each change the provider calls fn (from any
// goroutine, never while holding its own locks) and the host calls Tools
// again, swaps its tool set and tells connected clients.
type Notifier interface {
	OnToolsChanged(fn func())
}

// StatusReporter is implemented by providers with parts that can be up or
// down independently of the host (upstreams). /readyz lists them; a part
// that is down after having been up never makes the host unready (one that
// never came up does, unless health.wait_for_upstreams is false).
type StatusReporter interface {
	Status() []Status
}

// Status is the state of one part of a provider, e.g. one upstream.
type Status struct {
	// Name identifies the part, e.g. the upstream's name.
	Name string `json:"name"`
	// Up is true when the part can serve calls now.
	Up bool `json:"up"`
	// Detail says why a part is down. Empty means nothing to add. Never
	// a secret, and never anything about callers: /readyz shows it on
	// the unauthenticated health listener. Text for people: bounded and
	// without control characters (safetext.Show).
	Detail string `json:"detail,omitempty"`
	// EverUp is true once the part has been up (an upstream: started and
	// listed its tools) at least once; false while it never has.
	EverUp bool `json:"ever_up,omitempty"`
	// Starting is true while the part's first attempt to come up is in
	// progress (an upstream's first child may still be downloading);
	// false once it came up or failed.
	Starting bool `json:"starting,omitempty"`
	// PerIdentity is how many per-identity children (or sessions) of the
	// part run: how many distinct callers are active. Zero for shared
	// parts. It is caller activity, so /readyz never shows it.
	PerIdentity int `json:"per_identity,omitempty"`
}

// Collect gathers the tools of every provider, checking each name's syntax
// and that no two tools share a name. The error names the providers
// involved.
func Collect(ctx context.Context, providers []Provider) ([]Tool, error) {
	var all []Tool
	owner := map[string]string{}
	for _, p := range providers {
		ts, err := p.Tools(ctx)
		if err != nil {
			return nil, fmt.Errorf("tools from %s: %w", p.Name(), err)
		}
		for _, t := range ts {
			name := t.Tool.Name
			if !NamePattern.MatchString(name) {
				return nil, fmt.Errorf("tools from %s: invalid tool name %q (want %s)", p.Name(), name, NamePattern)
			}
			if prev, dup := owner[name]; dup {
				return nil, fmt.Errorf("tool %q is provided by both %s and %s", name, prev, p.Name())
			}
			owner[name] = p.Name()
			all = append(all, t)
		}
	}
	return all, nil
}

// Names returns the names of ts, in order.
func Names(ts []Tool) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Tool.Name
	}
	return names
}

// textError is a tool result that reports a failure to the model rather
// than as a protocol error.
func textError(format string, args ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, args...))
}
