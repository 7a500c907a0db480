package server

import (
	"context"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// newAudit returns where the host's audit events go, in order: the
// traced request's span (with tracing on), the metrics (when on) and the
// JSON audit log l.
func newAudit(l *slog.Logger, m *metrics.Metrics, traced bool) audit.Sink {
	var ss audit.Sinks
	if traced {
		ss = append(ss, spanSink{})
	}
	if m != nil {
		ss = append(ss, m)
	}
	return append(ss, audit.NewLog(l))
}

// maxLoggedName bounds a name the caller chose (a tool, prompt or
// resource name or URI, a path, a header value) in the host's log lines,
// as in audit lines.
const maxLoggedName = audit.MaxName

// bounded makes a caller-controlled string safe for a log line (the audit
// log bounds its own, see audit.Log): at most maxLoggedName bytes of it,
// each control or formatting character (newlines, escapes, bidirectional
// overrides, zero-width marks) and each invalid UTF-8 byte shown as
// U+FFFD, so a line can neither be split, recoloured nor made to read as
// a different name. A cut string ends with "…[N bytes]", N being the
// original length. Only the bytes kept are examined, so a megabyte name
// costs no more than a short one.
func bounded(s string) string { return boundedN(s, maxLoggedName) }

// boundedN is bounded with a limit of n bytes (before the truncation
// marker).
func boundedN(s string, n int) string { return safetext.Log(s, n) }

// hideInvalidName is a BeforeCallTool hook: a tools/call naming something
// that cannot be a tool name (tools.NamePattern) is answered "not found"
// by mcp-go, whose error text quotes the name; the name is emptied first
// so that a megabyte of the caller's text is not echoed back. No tool has
// an invalid name, so the answer is the same "not found" either way.
// (mcp-go passes the request to the hook by pointer and then uses it.)
func hideInvalidName(_ context.Context, _ any, req *mcp.CallToolRequest) {
	if !tools.NamePattern.MatchString(req.Params.Name) {
		req.Params.Name = ""
	}
}

// decision is the audit decision of the policy's d.
func decision(d acl.Decision) audit.Decision {
	if d.Allow {
		return audit.Allow
	}
	return audit.Deny
}
