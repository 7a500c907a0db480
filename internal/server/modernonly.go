package server

import (
	"context"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// Tools and prompts of the stateless protocol only. A bridged upstream of
// protocol: auto may list some tools or prompts only to requests of
// 2026-07-28 (tools.ModernOnlyProvider): a caller on a session is not
// offered them, as the upstream would not offer them, and their calls
// are "not found" there (the filters serve listing and use alike).

// modernOnly reports whether a provider serves the tool (or prompt) name
// to callers on 2026-07-28 only.
func (s *Server) modernOnly(kind tools.Kind, name string) bool {
	for _, p := range s.providers {
		if mp, ok := p.(tools.ModernOnlyProvider); ok && mp.ModernOnly(kind, name) {
			return true
		}
	}
	return false
}

// hideModernOnly is a tool filter: a caller not on 2026-07-28 is not
// offered a tool only that protocol lists.
func (s *Server) hideModernOnly(ctx context.Context, in []mcp.Tool) []mcp.Tool {
	if server.IsModernRequest(ctx) {
		return in
	}
	return slices.DeleteFunc(slices.Clone(in), func(t mcp.Tool) bool { return s.modernOnly(tools.KindTool, t.Name) })
}

// hideModernOnlyPrompts is hideModernOnly for prompts.
func (s *Server) hideModernOnlyPrompts(ctx context.Context, in []mcp.Prompt) []mcp.Prompt {
	if server.IsModernRequest(ctx) {
		return in
	}
	return slices.DeleteFunc(slices.Clone(in), func(p mcp.Prompt) bool { return s.modernOnly(tools.KindPrompt, p.Name) })
}
