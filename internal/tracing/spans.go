package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of tsmcp's spans.
const Scope = "github.com/tsmcp/tsmcp"

// Attribute keys tsmcp sets beyond the semantic conventions'.
const (
	// AttrOutcome is how a request ended: ok, refused, tool_error, error,
	// panic, cancelled, input_required (as the audit line's outcome).
	AttrOutcome = attribute.Key("tsmcp.outcome")
	// AttrDecision is the policy's decision: allow, deny or filter.
	AttrDecision = attribute.Key("tsmcp.decision")
	// AttrErrorType is the semantic conventions' error.type.
	AttrErrorType = attribute.Key("error.type")
)

// Recording reports whether ctx carries a span that records: only then
// are child spans started and trace context propagated.
func Recording(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording()
}

// StartClient starts a client span "{method} {target}" (just "{method}"
// without a target) under the recording span in ctx, from that span's
// TracerProvider. Without a recording span in
// ctx it starts nothing, allocates nothing and returns ctx and its
// non-recording span; End and SetAttributes on it are no-ops (guard
// variadic SetAttributes calls with IsRecording to keep them free).
func StartClient(ctx context.Context, method, target string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	name := method
	if target != "" {
		name += " " + target
	}
	tracer := parent.TracerProvider().Tracer(Scope)
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
}

// Fail marks span as failed with errorType (a short, fixed word; never a
// message that could quote input or secrets): error.type, and the Error
// status when asError.
func Fail(span trace.Span, errorType string, asError bool) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrErrorType.String(errorType))
	if asError {
		span.SetStatus(codes.Error, "")
	}
}

// Traceparent returns the W3C traceparent of the recording span in ctx,
// or "" when there is none. It is built from the span's own context, so
// it carries nothing a caller chose but the trace ID and flags it
// propagated.
func Traceparent(ctx context.Context) string {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return ""
	}
	sc := span.SpanContext()
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// Transport returns rt (http.DefaultTransport when nil) wrapped so that a
// request whose context carries a recording span gets that span's
// traceparent header. Only traceparent: the caller's tracestate and
// baggage, which a caller writes freely, are not passed on. Requests
// without a recording span pass through untouched.
func Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &transport{next: rt}
}

type transport struct{ next http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tp := Traceparent(r.Context()); tp != "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change its request
		r.Header.Set("Traceparent", tp)
	}
	return t.next.RoundTrip(r)
}

// CloseIdleConnections passes on to the wrapped transport, so that
// http.Client.CloseIdleConnections still works.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
