package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// auditCaller returns the audit attributes that describe the caller. Tags
// are a list (empty for a user's node), as whoami shows them. Built with
// slog.GroupAttrs, not slog.Group, whose ...any boxes each attribute: this
// runs for every audit line.
func auditCaller(id *identity.Identity) slog.Attr {
	if id == nil {
		return slog.GroupAttrs("caller", slog.String("user", ""), slog.String("node", ""), slog.Attr{Key: "tags", Value: noTags})
	}
	tags := noTags
	if id.Tags != nil {
		tags = slog.AnyValue(id.Tags)
	}
	return slog.GroupAttrs("caller",
		slog.String("user", id.LoginName),
		slog.String("node", id.NodeName),
		slog.Attr{Key: "tags", Value: tags},
		slog.String("ip", id.TailnetIP.String()),
	)
}

// noTags is the tags of a user's node in audit lines: an empty list, not
// null. Shared, never modified.
var noTags = slog.AnyValue([]string{})

// Bounds for caller-controlled text in log and audit lines.
const (
	// maxLoggedName bounds a name the caller chose (a tool, prompt or
	// resource name or URI, a path, a header value).
	maxLoggedName = 128
	// maxLoggedError bounds an error text, which may quote the caller's
	// input.
	maxLoggedError = 4096
)

// bounded makes a caller-controlled string safe for a log or audit line:
// at most maxLoggedName bytes of it, each control or formatting character
// (newlines, escapes, bidirectional overrides, zero-width marks) and each
// invalid UTF-8 byte shown as U+FFFD, so a line can neither be split,
// recoloured nor made to read as a different name. A cut string ends with
// "…[N bytes]", N being the original length. Only the bytes kept are
// examined, so a megabyte name costs no more than a short one.
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

// auditToolCall writes the audit line of one tools/call: a refused one
// (decision "deny", outcome "refused", no duration) or one that ran. detail
// is the failure's text for an outcome of "panic", or "".
func (s *Server) auditToolCall(ctx context.Context, id *identity.Identity, tool, decision, reason string, d time.Duration, outcome, detail string) {
	attrs := []slog.Attr{
		auditCaller(id),
		slog.String("tool", bounded(tool)),
		slog.String("decision", decision),
		slog.String("reason", reason),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("outcome", outcome),
	}
	if detail != "" {
		attrs = append(attrs, slog.String("err", boundedN(detail, maxLoggedError)))
	}
	s.audit.LogAttrs(ctx, slog.LevelInfo, "tool_call", attrs...)
}

// auditFeature writes the one audit line msg of a decision on a prompt
// (kind "prompt", the name under "prompt") or a resource (kind "resource",
// the URI under "uri"): caller, decision, reason, duration, outcome and,
// when there is one, the error detail, bounded. Arguments are never logged.
func (s *Server) auditFeature(ctx context.Context, msg string, id *identity.Identity, kind, name string, allow bool, reason string, d time.Duration, outcome, detail string) {
	nameKey, decision := "uri", "allow"
	if kind == "prompt" {
		nameKey = "prompt"
	}
	if !allow {
		decision = "deny"
	}
	attrs := []slog.Attr{
		auditCaller(id),
		slog.String("kind", kind),
		slog.String(nameKey, bounded(name)),
		slog.String("decision", decision),
		slog.String("reason", reason),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("outcome", outcome),
	}
	if detail != "" {
		attrs = append(attrs, slog.String("err", boundedN(detail, maxLoggedError)))
	}
	s.audit.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}
