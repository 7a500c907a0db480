package metrics

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// AuditHandler wraps the handler of the audit logger so that every audit
// line is also counted: decisions on tools, prompts and resources
// (tsmcp_decisions_total), the calls that ran (tsmcp_tool_calls_total and
// their duration) and limit refusals (tsmcp_limit_refusals_total). Every
// decision is already one audit line, so counting the lines keeps the
// metrics and the audit in step wherever a decision is made. Records pass
// on to next unchanged. With a nil *Metrics it returns next.
func (m *Metrics) AuditHandler(next slog.Handler) slog.Handler {
	if m == nil {
		return next
	}
	return &auditHandler{m: m, next: next}
}

type auditHandler struct {
	m    *Metrics
	next slog.Handler
}

func (h *auditHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (h *auditHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &auditHandler{m: h.m, next: h.next.WithAttrs(as)}
}

func (h *auditHandler) WithGroup(name string) slog.Handler {
	return &auditHandler{m: h.m, next: h.next.WithGroup(name)}
}

func (h *auditHandler) Handle(ctx context.Context, r slog.Record) error {
	h.m.observe(&r)
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// observe counts one audit record.
func (m *Metrics) observe(r *slog.Record) {
	var kind, name, decision, outcome, limit string
	var durMS float64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "kind":
			kind = a.Value.String()
		case "tool", "prompt", "uri":
			name = a.Value.String()
		case "decision":
			decision = a.Value.String()
		case "outcome":
			outcome = a.Value.String()
		case "limit":
			limit = a.Value.String()
		case "duration_ms":
			if a.Value.Kind() == slog.KindFloat64 {
				durMS = a.Value.Float64()
			}
		}
		return true
	})
	if r.Message == "limit" {
		m.Refused(limit)
		return
	}
	if r.Message == "tool_call" {
		kind = "tool"
	}
	if kind != "tool" && kind != "prompt" && kind != "resource" || decision != "allow" && decision != "deny" {
		return
	}
	if kind == "resource" {
		// Resources are counted per upstream, never per URI.
		name = resourcePrefix(name)
	}
	m.Decision(kind, name, decision == "allow")
	if r.Message == "tool_call" && decision == "allow" {
		m.Call(name, outcome, time.Duration(durMS*float64(time.Millisecond)))
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
