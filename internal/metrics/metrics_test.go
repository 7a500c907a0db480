package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics, extra func(context.Context) ([]byte, error)) string {
	t.Helper()
	h := m.Handler(nil)
	if extra != nil {
		h = m.Handler(TextGatherer(extra))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return string(b)
}

// TestNamesAreBounded: only names the host serves become label values;
// a caller's made-up name is _unknown, names past MaxNames are _other.
func TestNamesAreBounded(t *testing.T) {
	m := New(BuildInfo{Version: "v1.2.3", Commit: "abc"})
	many := make([]string, MaxNames+50)
	for i := range many {
		many[i] = fmt.Sprintf("up__tool%d", i)
	}
	m.SetNames("tool", append([]string{"whoami"}, many...))
	for _, tt := range []struct {
		name, in, want string
	}{
		{name: "served", in: "whoami", want: "whoami"},
		{name: "caller's invention", in: "drop table; --", want: Other},
		{name: "served past the bound", in: many[len(many)-1], want: Other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Name("tool", tt.in); got != tt.want {
				t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	small := New(BuildInfo{})
	small.SetNames("tool", []string{"whoami"})
	if got := small.Name("tool", "nope"); got != Unknown {
		t.Errorf("unknown name with room = %q, want %q", got, Unknown)
	}
	for i := range 5000 {
		m.Decision("tool", fmt.Sprintf("made-up-%d", i), false)
	}
	out := scrape(t, m, nil)
	if n := strings.Count(out, "tsmcp_decisions_total{"); n != 1 {
		t.Errorf("%d decision series after 5000 made-up names, want 1:\n%s", n, out)
	}
}

func TestRecordsAndServes(t *testing.T) {
	m := New(BuildInfo{Version: "v1.2.3", Commit: "abc", TailscaleVersion: "v1.102.5"})
	m.SetNames("tool", []string{"whoami"})
	m.Request("tools/call", "streamable")
	m.Request("x/evil", "sse")
	m.RequestDone("tools/call", 3*time.Millisecond)
	m.Decision("tool", "whoami", true)
	m.Call("whoami", "ok", 2*time.Millisecond)
	m.WhoIsFailed()
	m.WhoIsCache(true)
	m.Refused("sessions_per_identity")
	out := scrape(t, m, func(context.Context) ([]byte, error) {
		return []byte("# TYPE tailscaled_inbound_packets_total counter\ntailscaled_inbound_packets_total{path=\"direct_ipv4\"} 7\n"), nil
	})
	for _, want := range []string{
		`tsmcp_build_info{commit="abc",go_version="go`,
		`tsmcp_mcp_requests_total{method="tools/call",transport="streamable"} 1`,
		`tsmcp_mcp_requests_total{method="other",transport="sse"} 1`,
		`tsmcp_mcp_request_duration_seconds_count{method="tools/call"} 1`,
		`tsmcp_decisions_total{decision="allow",kind="tool",name="whoami"} 1`,
		`tsmcp_tool_calls_total{outcome="ok",tool="whoami"} 1`,
		`tsmcp_whois_failures_total 1`,
		`tsmcp_whois_cache_total{result="hit"} 1`,
		`tsmcp_limit_refusals_total{limit="sessions_per_identity"} 1`,
		`tailscaled_inbound_packets_total{path="direct_ipv4"} 7`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// A failing extra source does not break the scrape.
	out = scrape(t, m, func(context.Context) ([]byte, error) { return nil, errors.New("node down") })
	if !strings.Contains(out, "tsmcp_whois_failures_total 1") {
		t.Errorf("scrape with a failing extra source lost the host's metrics:\n%s", out)
	}
}

// TestNilRecordsNothing: metrics off is a nil *Metrics, safe everywhere.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.SetNames("tool", []string{"a"})
	m.Request("tools/call", "sse")
	m.RequestDone("tools/call", time.Second)
	m.Decision("tool", "a", true)
	m.Call("a", "ok", time.Second)
	m.WhoIsFailed()
	m.WhoIsCache(false)
	m.Refused("x")
	m.MustRegister()
	if got := m.Name("tool", "a"); got != Unknown {
		t.Errorf("nil Name = %q", got)
	}
}
