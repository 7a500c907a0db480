package server_test

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestUpstreamRestartsAndChildrenMetrics: on the host's /metrics, an
// upstream whose child exits at once (a crash loop) counts its restarts;
// a per-identity upstream counts its live children: the discovery child,
// then one more for each of alice and bob calling through the tailnet,
// and back to the discovery child once theirs are reaped as idle.
func TestUpstreamRestartsAndChildrenMetrics(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "upstream-metrics", &logBuffer{}, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{alice.login, bob.login}, Tools: []string{"pi__*"}}}}
		c.Upstreams = []config.Upstream{
			{Name: "broken", Command: []string{"false"}},
			{Name: "pi", Command: []string{self}, Env: map[string]string{stdioServerEnv: "1"},
				Isolation: config.IsolationPerIdentity, IdleTimeout: 2 * time.Second},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	metricsURL := "http://" + host.HealthAddr().String() + "/metrics"

	// value returns the sample of series (name{labels}) on /metrics.
	value := func(series string) (float64, bool) {
		_, body := get(t, http.DefaultClient, metricsURL)
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v, err == nil
	}
	// waitUntil polls series until cond holds; each round first runs
	// each (nil: nothing).
	waitUntil := func(series, want string, cond func(float64) bool, each func()) {
		t.Helper()
		for {
			if each != nil {
				each()
			}
			v, ok := value(series)
			if ok && cond(v) {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s = %v (found %v), want %s", series, v, ok, want)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	waitUntil(`tsmcp_upstream_restarts_total{upstream="broken"}`, ">= 2", func(v float64) bool { return v >= 2 }, nil)
	waitUntil(`tsmcp_upstream_children{upstream="pi"}`, "1 (discovery)", func(v float64) bool { return v == 1 }, nil)

	base := "http://" + host.TailnetIP().String() + "/mcp"
	sa, sb := streamableSession(ctx, t, base, alice), streamableSession(ctx, t, base, bob)
	// Both identities call in every round, so neither child idles out
	// while the count is read.
	callBoth := func() {
		for _, s := range []*sdk.ClientSession{sa, sb} {
			if r, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "pi__count"}); err != nil || r.IsError {
				t.Fatalf("pi__count: %v %+v", err, r)
			}
		}
	}
	waitUntil(`tsmcp_upstream_children{upstream="pi"}`, "3 (discovery, alice, bob)", func(v float64) bool { return v == 3 }, callBoth)
	waitUntil(`tsmcp_upstream_children{upstream="pi"}`, "1 once the idle children are reaped", func(v float64) bool { return v == 1 }, nil)
	if v, ok := value(`tsmcp_upstream_restarts_total{upstream="pi"}`); !ok || v != 0 {
		t.Errorf(`tsmcp_upstream_restarts_total{upstream="pi"} = %v (found %v), want 0`, v, ok)
	}
}
