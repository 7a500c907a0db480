package upstream

import (
	"context"
	"maps"
	"net/url"

	"github.com/mark3labs/mcp-go/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// Traces: a request forwarded to an upstream is a client span under the
// caller's request span ("tools/call <tool>", "prompts/get <prompt>",
// "resources/read"), named with the upstream's own names. The trace
// context travels to the upstream in the request's _meta as traceparent
// (the MCP convention; a stdio child has no headers), and to a url
// upstream also in the traceparent header. Only traceparent: built from
// tsmcp's own span, it carries nothing the caller wrote but the trace ID.
// Without a recording request span nothing is started or sent.

// startSpan starts the client span of a request to u.
func (u *upstream) startSpan(ctx context.Context, method, target string) (context.Context, trace.Span) {
	ctx, span := tracing.StartClient(ctx, method, target)
	if !span.IsRecording() {
		return ctx, span
	}
	transport := "pipe"
	if u.remote != nil {
		transport = "tcp"
		if pu, err := url.Parse(u.remote.URL()); err == nil {
			span.SetAttributes(attribute.String("server.address", pu.Hostname()))
		}
	}
	span.SetAttributes(
		attribute.String("mcp.method.name", method),
		attribute.String("tsmcp.upstream", u.name),
		attribute.String("network.transport", transport),
	)
	switch method {
	case "tools/call":
		span.SetAttributes(attribute.String("gen_ai.tool.name", target), attribute.String("gen_ai.operation.name", "execute_tool"))
	case "prompts/get":
		span.SetAttributes(attribute.String("gen_ai.prompt.name", target))
	}
	return ctx, span
}

// endSpan ends a span started by startSpan: err (never its text) makes it
// failed, as does a tool result that is an error.
func endSpan(span trace.Span, res *mcp.CallToolResult, err error) {
	if !span.IsRecording() {
		return
	}
	switch {
	case err != nil:
		tracing.Fail(span, "error", true)
	case res != nil && res.IsError:
		tracing.Fail(span, "tool_error", true)
	}
	span.End()
}

// traceMeta returns meta with the traceparent of the span in ctx added
// (a copy; meta itself is not changed), or meta as is without a recording
// span.
func traceMeta(ctx context.Context, meta *mcp.Meta) *mcp.Meta {
	tp := tracing.Traceparent(ctx)
	if tp == "" {
		return meta
	}
	out := &mcp.Meta{}
	if meta != nil {
		out.ProgressToken = meta.ProgressToken
		out.AdditionalFields = maps.Clone(meta.AdditionalFields)
	}
	if out.AdditionalFields == nil {
		out.AdditionalFields = map[string]any{}
	}
	out.AdditionalFields["traceparent"] = tp
	return out
}
