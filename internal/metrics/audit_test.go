package metrics

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestAuditHandlerCounts: the audit lines the host writes become
// decisions, calls and refusals; every line still reaches the log.
func TestAuditHandlerCounts(t *testing.T) {
	m := New(BuildInfo{})
	m.SetNames("tool", []string{"whoami"})
	m.SetNames("prompt", []string{"every__simple"})
	m.SetNames("resource", []string{"every+"})
	var out bytes.Buffer
	audit := slog.New(m.AuditHandler(slog.NewJSONHandler(&out, nil))).With("log", "audit")
	caller := slog.Group("caller", slog.String("user", "alice@example.com"))
	audit.Info("tool_call", caller, "tool", "whoami", "decision", "allow", "duration_ms", 12.5, "outcome", "ok")
	audit.Info("tool_call", caller, "tool", "whoami", "decision", "allow", "duration_ms", 1.0, "outcome", "cancelled")
	audit.Info("tool_call", caller, "tool", "rm_rf", "decision", "deny", "duration_ms", 0.0, "outcome", "refused")
	audit.Info("prompt_get", caller, "kind", "prompt", "prompt", "every__simple", "decision", "allow")
	audit.Info("resource_read", caller, "kind", "resource", "uri", "every+demo://a/b", "decision", "deny")
	audit.Info("resource_read", caller, "kind", "resource", "uri", "secret+file:///etc/shadow", "decision", "deny")
	audit.Info("resource_read", caller, "kind", "resource", "uri", "ui://every+get-time/mcp-app.html", "decision", "deny")
	audit.Info("resource_read", caller, "kind", "resource", "uri", "ui://get-time/mcp-app.html", "decision", "deny")
	audit.Warn("limit", caller, "decision", "deny", "limit", "mcp.limits.calls_per_identity")
	audit.Info("tools_list", caller, "decision", "filter", "shown", 3)

	if n := strings.Count(out.String(), "\n"); n != 10 {
		t.Errorf("%d lines reached the log, want 10", n)
	}
	got := scrape(t, m, nil)
	for _, want := range []string{
		`tsmcp_decisions_total{decision="allow",kind="tool",name="whoami"} 2`,
		`tsmcp_decisions_total{decision="deny",kind="tool",name="_unknown"} 1`,
		`tsmcp_decisions_total{decision="allow",kind="prompt",name="every__simple"} 1`,
		`tsmcp_decisions_total{decision="deny",kind="resource",name="every+"} 2`,
		`tsmcp_decisions_total{decision="deny",kind="resource",name="_unknown"} 2`,
		`tsmcp_tool_calls_total{outcome="ok",tool="whoami"} 1`,
		`tsmcp_tool_calls_total{outcome="cancelled",tool="whoami"} 1`,
		`tsmcp_tool_call_duration_seconds_sum{tool="whoami"} 0.0135`,
		`tsmcp_limit_refusals_total{limit="mcp.limits.calls_per_identity"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(got, "alice") || strings.Contains(got, "rm_rf") || strings.Contains(got, "shadow") {
		t.Errorf("a caller or a caller's string reached a label:\n%s", got)
	}
}
