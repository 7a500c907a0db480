package metrics

import (
	"context"
	"strings"

	"github.com/tsmcp/tsmcp/internal/audit"
)

// Record implements audit.Sink: every audit event the host emits is
// counted here, so the metrics and the audit log stay in step wherever a
// decision is made. An allow or deny on a tool, prompt or resource is a
// decision (tsmcp_decisions_total), a tool call that ran is a call
// (tsmcp_tool_calls_total and its duration), a Limit event a refusal
// (tsmcp_limit_refusals_total); other events (lists, session hijacks,
// refused cancels) are not counted. A nil *Metrics counts nothing.
func (m *Metrics) Record(_ context.Context, e audit.Event) {
	if m == nil {
		return
	}
	if e.Action == audit.Limit {
		m.Refused(e.Limit)
		return
	}
	if e.Decision != audit.Allow && e.Decision != audit.Deny {
		return
	}
	name := e.Name
	switch e.Kind {
	case audit.Tool, audit.Prompt:
	case audit.Resource:
		// Resources are counted per upstream, never per URI.
		name = resourcePrefix(name)
	default:
		return
	}
	allow := e.Decision == audit.Allow
	m.Decision(string(e.Kind), name, allow)
	if e.Action == audit.ToolCall && allow {
		m.Call(name, string(e.Outcome), e.Duration)
	}
}

// resourcePrefix returns "<upstream>+" of a bridged resource URI
// ("<upstream>+…", or "ui://<upstream>+…" for an MCP Apps resource), or
// the URI unchanged when it names no upstream (Name then counts it
// Unknown).
func resourcePrefix(uri string) string {
	named := uri
	if rest, ok := strings.CutPrefix(uri, "ui://"); ok {
		named = rest
	}
	if up, _, ok := strings.Cut(named, "+"); ok {
		return up + "+"
	}
	return uri
}
