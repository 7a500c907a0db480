package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// prometheusBin returns Debian's prometheus server. When it is missing the
// test fails if CI is set (.ci/run installs it) and is skipped otherwise.
func prometheusBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		msg := "prometheus is not installed; run: apt-get install prometheus"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so .ci/run must install it)")
		}
		t.Skip(msg)
	}
	return p
}

// TestPrometheusScrapesMetrics: a real Prometheus scrapes /metrics on the
// host's health listener while callers use tools through the tailnet, and
// its query API shows the calls, the decisions, readiness, the tailnet
// state, the node's own metrics; no caller identity is in any series.
func TestPrometheusScrapesMetrics(t *testing.T) {
	bin := prometheusBin(t)
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "metrics", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{alice.login}, Tools: []string{"*"}}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	base := "http://" + host.TailnetIP().String() + "/mcp"

	const calls = 5
	s := streamableSession(ctx, t, base, alice)
	for range calls {
		if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err != nil || r.IsError {
			t.Fatalf("whoami: %v %+v", err, r)
		}
	}
	sb := streamableSession(ctx, t, base, bob)
	if _, err := sb.CallTool(ctx, &sdk.CallToolParams{Name: "whoami"}); err == nil {
		t.Fatal("bob's whoami was allowed")
	}
	// One legacy SSE session stays open (the Go SDK's Streamable client
	// speaks the stateless 2026-07-28 protocol: no session).
	sse, err := sdk.NewClient(&sdk.Implementation{Name: "metrics-test", Version: "1"}, nil).Connect(ctx,
		&sdk.SSEClientTransport{Endpoint: "http://" + host.TailnetIP().String() + "/sse", HTTPClient: alice.httpClient()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Close()

	// The exposition itself: no caller's login, node or IP in it.
	resp, err := http.Get("http://" + host.HealthAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, c := range []string{alice.login, bob.login, "alice", alice.node.IP.String()} {
		if strings.Contains(string(body), c) {
			t.Errorf("/metrics mentions the caller %q", c)
		}
	}

	// A real Prometheus scraping it every second.
	dir := t.TempDir()
	promAddr := testutil.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tsmcp\n    static_configs:\n      - targets: [%q]\n", host.HealthAddr().String())
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := exec.CommandContext(ctx, bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	promLog := &testutil.Buffer{}
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", promLog.String())
		}
	}()

	// query returns the value of a PromQL expression with one result.
	query := func(expr string) (float64, bool) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	for _, q := range []struct {
		expr string
		want float64
	}{
		{`up{job="tsmcp"}`, 1},
		{`tsmcp_tool_calls_total{tool="whoami",outcome="ok"}`, calls},
		{`tsmcp_decisions_total{kind="tool",name="whoami",decision="allow"}`, calls},
		{`tsmcp_decisions_total{kind="tool",name="whoami",decision="deny"}`, 1},
		{`tsmcp_tool_call_duration_seconds_count{tool="whoami"}`, calls},
		{`sum(tsmcp_mcp_requests_total{method="tools/call",transport="streamable"})`, calls + 1},
		{`tsmcp_sessions_open{transport="sse"}`, 1},
		{`tsmcp_sessions_open{transport="streamable"}`, 0},
		{`tsmcp_whois_cache_total{result="hit"} > 0`, -1},
		{`tsmcp_ready`, 1},
		{`tsmcp_tailnet_state{state="Running"}`, 1},
		{`count(tsmcp_build_info)`, 1},
		{`count({__name__=~"tailscaled_.+"}) > 0`, -1}, // the node's own metrics; any count
	} {
		t.Run(q.expr, func(t *testing.T) {
			for {
				v, ok := query(q.expr)
				if ok && (q.want < 0 || v == q.want) {
					return
				}
				if ctx.Err() != nil {
					t.Fatalf("Prometheus: %s = %v (found %v), want %v", q.expr, v, ok, q.want)
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	}
}

// TestMetricsOff: with health.metrics false, /metrics is the fixed 404.
func TestMetricsOff(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "metrics-off", &logBuffer{}, func(c *config.Config, _ *server.Options) {
		c.Health.Metrics = false
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	resp, err := http.Get("http://" + host.HealthAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || string(body) != "404 not found\n" {
		t.Errorf("GET /metrics with metrics off = %d %q, want the fixed 404", resp.StatusCode, body)
	}
}
