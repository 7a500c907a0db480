package server

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/tracing"
)

// Traces: one server span per MCP request (a JSON-RPC message with a
// method) posted on the tailnet listener, Streamable HTTP (POST /mcp) and
// legacy SSE (POST /message), named and described by the MCP semantic
// conventions. GET streams, DELETEs, the caller's answers to the host's
// own requests and batches (which mcp-go refuses) get no span. The policy
// decision and the outcome come from the request's audit events (see
// spanSink), so every place that audits also traces, as for metrics.
//
// Never recorded: arguments, results, headers, error texts, and who the
// caller is (login, node name, tags, IP): only tsmcp.caller.kind, user or
// tagged. Caller identity is what the audit log is for; traces usually go
// to a wider audience and a longer retention.

// newTracer returns the host's tracer: from tp, else from the global
// provider when tracing.Setup installed one; nil (tracing off) otherwise.
func newTracer(tp trace.TracerProvider, version string) trace.Tracer {
	if tp == nil {
		if !tracing.Enabled() {
			return nil
		}
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(tracing.Scope, trace.WithInstrumentationVersion(version))
}

// reqSpan is the span of one MCP request.
type reqSpan struct {
	span trace.Span
	// outcome is set once an audit event gave the request's outcome.
	outcome atomic.Bool
	once    sync.Once
}

type reqSpanKey struct{}

// markOutcome gives the span an outcome, unless an audit event did.
func (rs *reqSpan) markOutcome(outcome string) {
	if rs.outcome.CompareAndSwap(false, true) {
		rs.span.SetAttributes(tracing.AttrOutcome.String(outcome), tracing.AttrErrorType.String(outcome))
	}
}

// end ends the span once. Without an outcome from an audit event, the
// HTTP status gives it (0: nothing written, as for a request the
// transport answered on a stream).
func (rs *reqSpan) end(status int) {
	rs.once.Do(func() {
		if status != 0 {
			rs.span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if !rs.outcome.Load() {
			if status >= 400 {
				rs.span.SetAttributes(tracing.AttrOutcome.String("error"), tracing.AttrErrorType.String(strconv.Itoa(status)))
				if status >= 500 {
					rs.span.SetStatus(codes.Error, "")
				}
			} else {
				rs.span.SetAttributes(tracing.AttrOutcome.String("ok"))
			}
		}
		rs.span.End()
	})
}

// traceRequests starts the server span of each MCP request, as a child of
// the caller's W3C traceparent when it sent one, and ends it when the
// answer is written: on Streamable HTTP when the POST ends, on legacy SSE
// when the answer reaches the session's stream (see sseWaits). With
// tracing off it is not in the chain at all.
func (s *Server) traceRequests(next http.Handler) http.Handler {
	if s.tracer == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := spanFieldsOf(r)
		if !ok || p.Method == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		name, attrs := requestSpan(p, r)
		ctx, span := s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		rs := &reqSpan{span: span}
		r = r.WithContext(context.WithValue(ctx, reqSpanKey{}, rs))
		sw := &statusWriter{ResponseWriter: w}
		var forget func()
		if r.URL.Path == "/message" && len(p.ID) > 0 {
			// Registered before the message is handled: its answer can
			// reach the stream before the POST returns.
			forget = s.sessions.sse.awaitAnswer(r.URL.Query().Get("sessionId"), p.ID, rs)
		}
		next.ServeHTTP(sw, r)
		if forget != nil {
			if sw.status == http.StatusAccepted {
				return // ended when the answer is written to the stream
			}
			forget()
		}
		rs.end(sw.status)
	})
}

// methodPattern is what an MCP method name looks like; anything else is
// recorded as _OTHER, so a caller cannot choose span names freely.
var methodPattern = regexp.MustCompile(`^[a-z]+(/[a-zA-Z_]+){0,3}$`)

// requestSpan returns the name and attributes of the span of request p.
func requestSpan(p spanFields, r *http.Request) (string, []attribute.KeyValue) {
	method := p.Method
	if len(method) > 64 || !methodPattern.MatchString(method) {
		method = "_OTHER"
	}
	transport := "streamable"
	sid := r.Header.Get("Mcp-Session-Id")
	if r.URL.Path == "/message" {
		transport = "sse"
		sid = r.URL.Query().Get("sessionId")
	}
	attrs := make([]attribute.KeyValue, 0, 10)
	attrs = append(attrs,
		attribute.String("mcp.method.name", method),
		attribute.String("network.transport", "tcp"),
		attribute.String("network.protocol.name", "http"),
		attribute.String("tsmcp.transport", transport),
	)
	name := method
	switch p.Method {
	case "tools/call":
		attrs = append(attrs, attribute.String("gen_ai.operation.name", "execute_tool"))
		if tools.NamePattern.MatchString(p.Name) {
			name += " " + p.Name
			attrs = append(attrs, attribute.String("gen_ai.tool.name", p.Name))
		}
	case "prompts/get":
		if tools.NamePattern.MatchString(p.Name) {
			name += " " + p.Name
			attrs = append(attrs, attribute.String("gen_ai.prompt.name", p.Name))
		}
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		if p.URI != "" {
			attrs = append(attrs, attribute.String("mcp.resource.uri", bounded(p.URI)))
		}
	}
	if sid != "" {
		attrs = append(attrs, attribute.String("mcp.session.id", bounded(sid)))
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		attrs = append(attrs, attribute.String("mcp.protocol.version", bounded(v)))
	}
	if len(p.ID) > 0 {
		attrs = append(attrs, attribute.String("jsonrpc.request.id", bounded(rpcIDString(p.ID))))
	}
	if id, ok := identity.FromContext(r.Context()); ok {
		kind := "user"
		if id.IsTagged() {
			kind = "tagged"
		}
		attrs = append(attrs, attribute.String("tsmcp.caller.kind", kind))
	}
	return name, attrs
}

// rpcIDString is a JSON-RPC id as text: a string's contents, a number's
// digits.
func rpcIDString(id json.RawMessage) string {
	var s string
	if json.Unmarshal(id, &s) == nil {
		return s
	}
	return string(id)
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher, which the SSE transports require.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
