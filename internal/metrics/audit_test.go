package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/audit"
)

// TestRecordCounts: audit events become decisions, calls and refusals;
// events that are neither (lists, session hijacks, refused cancels) count
// nothing, and no caller or caller-chosen string becomes a label.
func TestRecordCounts(t *testing.T) {
	alice := audit.Caller{Identified: true, User: "alice@example.com", Node: "laptop"}
	tests := []struct {
		name   string
		events []audit.Event
		want   []string // lines the scrape has
		absent []string // families the scrape has no sample of
	}{
		{
			name: "tool calls",
			events: []audit.Event{
				{Action: audit.ToolCall, Caller: alice, Kind: audit.Tool, Name: "whoami", Decision: audit.Allow, Duration: 12500 * time.Microsecond, Outcome: audit.OK},
				{Action: audit.ToolCall, Caller: alice, Kind: audit.Tool, Name: "whoami", Decision: audit.Allow, Duration: time.Millisecond, Outcome: audit.Cancelled},
				{Action: audit.ToolCall, Caller: alice, Kind: audit.Tool, Name: "rm_rf", Decision: audit.Deny, Outcome: audit.Refused},
			},
			want: []string{
				`tsmcp_decisions_total{decision="allow",kind="tool",name="whoami"} 2`,
				`tsmcp_decisions_total{decision="deny",kind="tool",name="_unknown"} 1`,
				`tsmcp_tool_calls_total{outcome="ok",tool="whoami"} 1`,
				`tsmcp_tool_calls_total{outcome="cancelled",tool="whoami"} 1`,
				`tsmcp_tool_call_duration_seconds_sum{tool="whoami"} 0.0135`,
				`tsmcp_tool_call_duration_seconds_count{tool="whoami"} 2`,
			},
		},
		{
			name: "prompts and resources, per upstream (MCP Apps' ui:// too)",
			events: []audit.Event{
				{Action: audit.PromptGet, Caller: alice, Kind: audit.Prompt, Name: "every__simple", Decision: audit.Allow, Outcome: audit.OK},
				{Action: audit.Completion, Caller: alice, Kind: audit.Prompt, Name: "every__simple", Decision: audit.Deny, Outcome: audit.Refused},
				{Action: audit.ResourceRead, Caller: alice, Kind: audit.Resource, Name: "every+demo://a/b", Decision: audit.Deny, Outcome: audit.Refused},
				{Action: audit.ResourceWithheld, Caller: alice, Kind: audit.Resource, Name: "every+demo://c", In: "tools/call x", Decision: audit.Deny},
				{Action: audit.ResourceRead, Caller: alice, Kind: audit.Resource, Name: "secret+file:///etc/shadow", Decision: audit.Deny, Outcome: audit.Refused},
				{Action: audit.ResourceRead, Caller: alice, Kind: audit.Resource, Name: "ui://every+get-time/mcp-app.html", Decision: audit.Deny, Outcome: audit.Refused},
				{Action: audit.ResourceRead, Caller: alice, Kind: audit.Resource, Name: "ui://get-time/mcp-app.html", Decision: audit.Deny, Outcome: audit.Refused},
			},
			want: []string{
				`tsmcp_decisions_total{decision="allow",kind="prompt",name="every__simple"} 1`,
				`tsmcp_decisions_total{decision="deny",kind="prompt",name="every__simple"} 1`,
				`tsmcp_decisions_total{decision="deny",kind="resource",name="every+"} 3`,
				`tsmcp_decisions_total{decision="deny",kind="resource",name="_unknown"} 2`,
			},
			absent: []string{"tsmcp_tool_calls_total{"},
		},
		{
			name: "a limit is a refusal, not a decision",
			events: []audit.Event{
				{Action: audit.Limit, Caller: alice, Kind: audit.Tool, Name: "whoami", Decision: audit.Deny, Limit: "mcp.limits.answer_bytes_per_identity"},
				{Action: audit.Limit, Caller: alice, Decision: audit.Deny, Limit: "mcp.limits.calls_per_identity", Path: "/mcp", Method: "POST"},
			},
			want: []string{
				`tsmcp_limit_refusals_total{limit="mcp.limits.answer_bytes_per_identity"} 1`,
				`tsmcp_limit_refusals_total{limit="mcp.limits.calls_per_identity"} 1`,
			},
			absent: []string{"tsmcp_decisions_total{"},
		},
		{
			name: "lists, hijacks and cancels are not counted",
			events: []audit.Event{
				{Action: audit.ToolsList, Caller: alice, Kind: audit.Tool, Decision: audit.Filter, Shown: 3},
				{Action: audit.ResourcesList, Caller: alice, Kind: audit.Resource, Decision: audit.Filter, Shown: 1},
				{Action: audit.IdentityPage, Caller: alice, Decision: audit.Filter, Shown: 1},
				{Action: audit.SessionHijack, Caller: alice, Decision: audit.Deny, Reason: "session of another identity", Path: "/mcp"},
				{Action: audit.Cancel, Caller: alice, Decision: audit.Deny, RequestID: "7"},
			},
			absent: []string{"tsmcp_decisions_total{", "tsmcp_tool_calls_total{", "tsmcp_limit_refusals_total{"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(BuildInfo{})
			m.SetNames("tool", []string{"whoami"})
			m.SetNames("prompt", []string{"every__simple"})
			m.SetNames("resource", []string{"every+"})
			for _, e := range tt.events {
				m.Record(context.Background(), e)
			}
			got := scrape(t, m, nil)
			for _, want := range tt.want {
				if !strings.Contains(got, want) {
					t.Errorf("scrape lacks %q", want)
				}
			}
			for _, family := range tt.absent {
				if strings.Contains(got, family) {
					t.Errorf("scrape has %s samples", family)
				}
			}
			for _, s := range []string{"alice", "laptop", "rm_rf", "shadow", "demo://"} {
				if strings.Contains(got, s) {
					t.Errorf("a caller or a caller's string (%q) reached a label", s)
				}
			}
		})
	}
}

// TestRecordNil: metrics that are off count nothing and do not fail.
func TestRecordNil(t *testing.T) {
	var m *Metrics
	m.Record(context.Background(), audit.Event{Action: audit.ToolCall, Kind: audit.Tool, Name: "whoami", Decision: audit.Allow, Outcome: audit.OK})
}
