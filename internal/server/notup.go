package server

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// A tools/call of a bridged tool whose upstream has never come up (its
// first child may still be downloading) names a tool the host does not
// know yet: mcp-go would answer "tool not found". The caller gets a tool
// error saying that the upstream is starting instead, when the policy
// allows the name: routeNotUp, a hook that runs before mcp-go looks the
// tool up, renames the call to notUpTool, a tool the host always
// registers besides the others, whose handler answers with the message
// the hook chose. Anything refused still looks like something that does
// not exist.
//
// notUpTool's name is not a valid tool name (tools.NamePattern), so the
// policy denies it to everyone: it is never listed nor shown on the
// identity page, and a caller naming it has the name emptied by
// hideInvalidName before routeNotUp runs. The one filter decision that
// lets it through is the one for a call routeNotUp renamed (see
// notUpCalls).

// notUpToolName is the name of notUpTool.
const notUpToolName = "tsmcp:upstream-not-up"

// notUpCalls are the tools/call requests routeNotUp renamed, by their
// context, until the tool filter's decision on them.
type notUpCalls struct{ m sync.Map } // context.Context → struct{}

// notUpTool returns the tool routed calls run: it answers with the
// message routeNotUp put in its arguments.
func notUpTool() tools.Tool {
	return tools.Tool{
		Tool: mcp.NewTool(notUpToolName),
		Handler: func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError(req.GetString("message", "upstream unavailable")), nil
		},
	}
}

// withNotUpTool returns ts and, when a provider has parts that come up on
// their own (upstreams), notUpTool: the tool set handed to mcp-go.
func (s *Server) withNotUpTool(ts []tools.Tool) []tools.Tool {
	for _, p := range s.providers {
		if _, ok := p.(tools.StatusReporter); ok {
			return append(ts[:len(ts):len(ts)], notUpTool())
		}
	}
	return ts
}

// notUpMessage returns the tool error for a call of the tool named name
// when its upstream has never come up ("" when it has, or when name is no
// upstream's): that it is starting, or, once its first attempt failed,
// that it is unavailable (the log and /readyz say why).
func (s *Server) notUpMessage(name string) string {
	up, _, ok := strings.Cut(name, "__")
	if !ok {
		return ""
	}
	for _, st := range s.partStatus() {
		switch {
		case st.Name != up || st.EverUp:
		case st.Starting:
			return fmt.Sprintf("upstream %s is starting; try again in a few seconds", up)
		default:
			return fmt.Sprintf("upstream %s is unavailable", up)
		}
	}
	return ""
}

// routeNotUp is the last BeforeCallTool hook. A call of a tool the host
// does not have, allowed by the policy, gets its audit line here: refused
// as "no such tool", or, when the tool's upstream has never come up,
// renamed to notUpTool with the message to answer (see above). Calls the
// policy refuses were audited by auditDeniedCall; names hideInvalidName
// emptied are among them.
func (s *Server) routeNotUp(ctx context.Context, _ any, req *mcp.CallToolRequest) {
	name := req.Params.Name
	if name == "" || s.mcp.GetTool(name) != nil {
		return
	}
	id, _ := identity.FromContext(ctx)
	d := s.policy.Load().Decide(id, name)
	if !d.Allow {
		return
	}
	msg := s.notUpMessage(name)
	if msg == "" || s.mcp.GetTool(notUpToolName) == nil {
		s.audit.Record(ctx, audit.Event{Action: audit.ToolCall, Caller: audit.CallerOf(id), Kind: audit.Tool, Name: name,
			Decision: audit.Deny, Reason: "no such tool", Outcome: audit.Refused})
		return
	}
	s.audit.Record(ctx, audit.Event{Action: audit.ToolCall, Caller: audit.CallerOf(id), Kind: audit.Tool, Name: name,
		Decision: audit.Allow, Reason: d.Reason, Outcome: audit.ToolError, Err: msg})
	req.Params.Name = notUpToolName
	req.Params.Arguments = map[string]any{"message": msg}
	req.Params.RawArguments = nil
	s.notUp.m.Store(ctx, struct{}{})
}

// passNotUp is the tool filter's decision on notUpTool: it passes only a
// call routeNotUp renamed, once.
func (s *Server) passNotUp(ctx context.Context, in []mcp.Tool) bool {
	_, routed := s.notUp.m.LoadAndDelete(ctx)
	return routed && len(in) == 1
}
