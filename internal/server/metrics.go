package server

import (
	"context"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"tailscale.com/client/local"

	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// newMetrics returns the host's metrics, or nil when health.metrics is
// off (every recording method is then a no-op).
func newMetrics(enabled bool, version string) *metrics.Metrics {
	if !enabled {
		return nil
	}
	return metrics.New(metrics.BuildInfo{
		Version:          version,
		Commit:           buildSetting("vcs.revision"),
		TailscaleVersion: depVersion("tailscale.com"),
	})
}

// registerGauges adds the metrics read from the host's state at scrape
// time: readiness, sessions by transport, upstreams up and the tailnet
// state. lc is the node's LocalAPI client.
func (s *Server) registerGauges(lc *local.Client) {
	if s.metrics == nil {
		return
	}
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tsmcp_ready",
		Help: "1 while /readyz answers 200: Running on the tailnet, tools loaded, every upstream up at least once (unless health.wait_for_upstreams is false), not draining.",
	}, func() float64 {
		if s.isReady() {
			return 1
		}
		return 0
	})
	sessions := func(transport string, n func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tsmcp_sessions_open",
			Help:        "MCP sessions open, by transport (streamable, sse).",
			ConstLabels: prometheus.Labels{"transport": transport},
		}, func() float64 { return float64(n()) })
	}
	s.metrics.MustRegister(ready,
		sessions("streamable", s.sessions.StreamableCount),
		sessions("sse", s.sessions.sse.open),
		&upstreamCollector{s: s},
		&tailnetCollector{lc: lc},
	)
}

var (
	upstreamUpDesc = prometheus.NewDesc("tsmcp_upstream_up",
		"1 while a bridged upstream can serve calls, 0 while it is down (see /readyz for why).", []string{"upstream"}, nil)
	tailnetStateDesc = prometheus.NewDesc("tsmcp_tailnet_state",
		"1 for the tsnet node's current backend state, 0 for the others.", []string{"state"}, nil)
)

// upstreamCollector reports each upstream's state at scrape time. The
// upstream label comes from the configuration.
type upstreamCollector struct{ s *Server }

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upstreamUpDesc }

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.s.providers {
		r, ok := p.(tools.StatusReporter)
		if !ok {
			continue
		}
		for _, st := range r.Status() {
			up := 0.0
			if st.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(upstreamUpDesc, prometheus.GaugeValue, up, st.Name)
		}
	}
}

// tailnetStates are the backend states tsmcp_tailnet_state reports.
var tailnetStates = []string{"NoState", "NeedsLogin", "NeedsMachineAuth", "Stopped", "Starting", "Running"}

// tailnetCollector reports the node's backend state at scrape time.
type tailnetCollector struct{ lc *local.Client }

func (c *tailnetCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tailnetStateDesc }

func (c *tailnetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	current := "NoState"
	if st, err := c.lc.StatusWithoutPeers(ctx); err == nil {
		current = st.BackendState
	}
	for _, state := range tailnetStates {
		v := 0.0
		if state == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(tailnetStateDesc, prometheus.GaugeValue, v, state)
	}
}

// metricsHandler serves /metrics on the health listener: the host's
// metrics and, once joined, the tsnet node's own (UserMetrics).
func (s *Server) metricsHandler() http.Handler {
	s.mu.Lock()
	lc := s.lc
	s.mu.Unlock()
	var extra prometheus.Gatherer
	if lc != nil {
		extra = metrics.TextGatherer(lc.UserMetrics)
	}
	return s.metrics.Handler(extra)
}

// countRequests counts every MCP message posted to /mcp or /message by
// JSON-RPC method and transport, and the time to answer a single request
// on /mcp (on /message the answer travels on the SSE stream). Methods MCP
// does not define are counted as "other".
func (s *Server) countRequests(next http.Handler) http.Handler {
	if s.metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		transport := "streamable"
		if r.URL.Path == "/message" {
			transport = "sse"
		}
		methods := peekRPC(r).Methods()
		for _, m := range methods {
			s.metrics.Request(m, transport)
		}
		start := time.Now()
		next.ServeHTTP(w, r)
		if transport == "streamable" && len(methods) == 1 && !strings.HasPrefix(methods[0], "notifications/") {
			s.metrics.RequestDone(methods[0], time.Since(start))
		}
	})
}

// setMetricNames tells the metrics which tool names the host serves now.
func (s *Server) setMetricNames(ts []tools.Tool) {
	s.metrics.SetNames("tool", tools.Names(ts))
}

// buildSetting returns a setting the build recorded (e.g. vcs.revision),
// or "".
func buildSetting(key string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
	}
	return ""
}

// depVersion returns the version of the module path the binary was built
// with, or "" (test binaries record none).
func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return ""
}

// setPromptNames tells the metrics which prompt names the host serves now.
func (s *Server) setPromptNames(ps []tools.Prompt) {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Prompt.Name
	}
	s.metrics.SetNames("prompt", names)
}
