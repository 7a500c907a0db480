package server

import (
	"context"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/tracing"
)

// spanSink is the audit.Sink of the traces: an audit event of a traced
// request (its context holds the request's span, see traceRequests) gives
// the span its decision and outcome (and error.type for an outcome that
// is not ok), a limit's refusal names the limit, and the credentials the
// request used are named (tsmcp.credentials: kind:upstream:name, from the
// config). Only those fixed words are copied: never the caller, the
// reason, the name, the error text, nor a credential's value or subject.
// Events of a request without a recording span are ignored.
type spanSink struct{}

// Record implements audit.Sink.
func (spanSink) Record(ctx context.Context, e audit.Event) {
	if rs, _ := ctx.Value(reqSpanKey{}).(*reqSpan); rs != nil && rs.span.IsRecording() {
		annotate(rs, &e)
	}
}

// annotate copies an audit event's decision and outcome to rs. A refusal
// (a limit, a session hijack, a foreign cancel) without an outcome ends
// the request refused.
func annotate(rs *reqSpan, e *audit.Event) {
	outcome := e.Outcome
	if outcome == "" && e.Action.Refusal() {
		outcome = audit.Refused
	}
	if e.Decision != "" {
		rs.span.SetAttributes(tracing.AttrDecision.String(string(e.Decision)))
	}
	if e.Limit != "" {
		rs.span.SetAttributes(attribute.String("tsmcp.limit", e.Limit))
	}
	if len(e.Credentials) > 0 {
		// Which credentials, by kind and name: never a value, nor a
		// subject (an identity).
		cs := make([]string, len(e.Credentials))
		for i, c := range e.Credentials {
			cs[i] = c.Kind + ":" + c.Upstream + ":" + c.Name
		}
		rs.span.SetAttributes(attribute.StringSlice("tsmcp.credentials", cs))
	}
	if outcome == "" {
		return
	}
	rs.outcome.Store(true)
	rs.span.SetAttributes(tracing.AttrOutcome.String(string(outcome)))
	switch outcome {
	case audit.OK, audit.InputRequired, audit.URLRequired:
	case audit.Refused, audit.Cancelled:
		// Not a failure of the host: the span's status stays unset.
		rs.span.SetAttributes(tracing.AttrErrorType.String(string(outcome)))
	default: // tool_error, error, panic, not_found, withheld, limit
		tracing.Fail(rs.span, string(outcome), true)
	}
}
