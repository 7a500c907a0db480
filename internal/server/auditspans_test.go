package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tsmcp/tsmcp/internal/audit"
)

// TestSpanSink: the audit events of a traced request give its span the
// decision, the outcome, error.type and the status (the last event
// winning), a limit's refusal names the limit; nothing else of an event
// (caller, name, reason, error text) reaches the span.
func TestSpanSink(t *testing.T) {
	alice := audit.Caller{Identified: true, User: "alice@example.com", Node: "laptop"}
	call := func(d audit.Decision, o audit.Outcome) audit.Event {
		return audit.Event{Action: audit.ToolCall, Caller: alice, Kind: audit.Tool, Name: "secret_tool", Decision: d, Reason: "rule secret", Outcome: o, Err: "secret text"}
	}
	tests := []struct {
		name   string
		events []audit.Event
		want   map[string]string // attributes; "" means absent
		status codes.Code
	}{
		{
			name:   "allowed, ok",
			events: []audit.Event{call(audit.Allow, audit.OK)},
			want:   map[string]string{"tsmcp.decision": "allow", "tsmcp.outcome": "ok", "error.type": "", "tsmcp.limit": ""},
		},
		{
			name:   "refused by the policy",
			events: []audit.Event{call(audit.Deny, audit.Refused)},
			want:   map[string]string{"tsmcp.decision": "deny", "tsmcp.outcome": "refused", "error.type": "refused"},
		},
		{
			name:   "cancelled",
			events: []audit.Event{call(audit.Allow, audit.Cancelled)},
			want:   map[string]string{"tsmcp.outcome": "cancelled", "error.type": "cancelled"},
		},
		{
			name:   "input required",
			events: []audit.Event{call(audit.Allow, audit.InputRequired)},
			want:   map[string]string{"tsmcp.outcome": "input_required", "error.type": ""},
		},
		{
			name:   "panic",
			events: []audit.Event{call(audit.Allow, audit.Panic)},
			want:   map[string]string{"tsmcp.outcome": "panic", "error.type": "panic"},
			status: codes.Error,
		},
		{
			name:   "tool error",
			events: []audit.Event{call(audit.Allow, audit.ToolError)},
			want:   map[string]string{"tsmcp.outcome": "tool_error", "error.type": "tool_error"},
			status: codes.Error,
		},
		{
			name:   "not found",
			events: []audit.Event{{Action: audit.ResourceRead, Kind: audit.Resource, Name: "x+secret://", Decision: audit.Allow, Outcome: audit.NotFound}},
			want:   map[string]string{"tsmcp.decision": "allow", "tsmcp.outcome": "not_found", "error.type": "not_found"},
			status: codes.Error,
		},
		{
			name:   "refused by a limit",
			events: []audit.Event{{Action: audit.Limit, Caller: alice, Decision: audit.Deny, Limit: "mcp.limits.calls_per_identity", Path: "/mcp", Method: "POST"}},
			want:   map[string]string{"tsmcp.decision": "deny", "tsmcp.limit": "mcp.limits.calls_per_identity", "tsmcp.outcome": "refused", "error.type": "refused"},
		},
		{
			name:   "a session hijack",
			events: []audit.Event{{Action: audit.SessionHijack, Caller: alice, Decision: audit.Deny, Reason: "secret reason", Path: "/mcp"}},
			want:   map[string]string{"tsmcp.decision": "deny", "tsmcp.outcome": "refused", "error.type": "refused", "tsmcp.limit": ""},
		},
		{
			name:   "a foreign cancel",
			events: []audit.Event{{Action: audit.Cancel, Caller: alice, Decision: audit.Deny, RequestID: "7"}},
			want:   map[string]string{"tsmcp.decision": "deny", "tsmcp.outcome": "refused"},
		},
		{
			name:   "a list: the HTTP status gives the outcome",
			events: []audit.Event{{Action: audit.ToolsList, Caller: alice, Kind: audit.Tool, Decision: audit.Filter, Shown: 2}},
			want:   map[string]string{"tsmcp.decision": "filter", "tsmcp.outcome": "ok", "error.type": ""},
		},
		{
			name: "a withheld URI, then the call: the call's",
			events: []audit.Event{
				{Action: audit.ResourceWithheld, Caller: alice, Kind: audit.Resource, Name: "x+secret://", In: "tools/call secret_tool", Decision: audit.Deny, Reason: "secret reason"},
				call(audit.Allow, audit.OK),
			},
			want: map[string]string{"tsmcp.decision": "allow", "tsmcp.outcome": "ok", "error.type": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			defer tp.Shutdown(context.Background())
			ctx, span := tp.Tracer("t").Start(context.Background(), "tools/call")
			rs := &reqSpan{span: span}
			ctx = context.WithValue(ctx, reqSpanKey{}, rs)
			sink := newAudit(slog.New(slog.DiscardHandler), nil, true)
			for _, e := range tt.events {
				sink.Record(ctx, e)
			}
			rs.end(200)
			ended := rec.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans ended, want 1", len(ended))
			}
			got := map[string]string{}
			for _, kv := range ended[0].Attributes() {
				got[string(kv.Key)] = kv.Value.Emit()
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (attributes %v)", k, got[k], v, got)
				}
			}
			if c := ended[0].Status().Code; c != tt.status {
				t.Errorf("status %v, want %v", c, tt.status)
			}
			for k, v := range got {
				if strings.Contains(v, "secret") || strings.Contains(v, "alice") || strings.Contains(v, "laptop") {
					t.Errorf("the span records %s=%q, from the event", k, v)
				}
			}
		})
	}
	t.Run("no span", func(t *testing.T) {
		newAudit(slog.New(slog.DiscardHandler), nil, true).Record(context.Background(), call(audit.Allow, audit.OK))
	})
}
