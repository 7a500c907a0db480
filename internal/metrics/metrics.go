// Package metrics holds tsmcp's Prometheus metrics and serves them.
//
// No label ever carries a caller's identity. Names (of tools, prompts,
// upstreams) come from the configuration and the upstreams, never from a
// request: a name the host does not know is counted as "_unknown", and
// past MaxNames known names further ones are counted as "_other", so a
// misbehaving upstream cannot explode cardinality.
package metrics

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Label values for names that are not counted by name.
const (
	// Unknown labels a name the host does not serve (a caller asked for
	// it; its text is never a label).
	Unknown = "_unknown"
	// Other labels a known name past MaxNames.
	Other = "_other"
)

// MaxNames bounds the distinct names per kind used as label values.
const MaxNames = 1000

// Metrics are the host's metrics. A nil *Metrics records nothing, so the
// host can run with metrics off at no cost. Create with New.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	decisions       *prometheus.CounterVec
	calls           *prometheus.CounterVec
	callDuration    *prometheus.HistogramVec
	whoisFailures   prometheus.Counter
	whoisCache      *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	upstreams       upstreamMetrics // restarts and children; see upstreams.go
	oauth           oauthMetrics    // upstreams with auth; see oauth.go

	mu    sync.RWMutex // guards the field below
	known map[string]map[string]bool
}

// BuildInfo describes the binary, for tsmcp_build_info.
type BuildInfo struct {
	Version, Commit, GoVersion, TailscaleVersion string
}

// New registers every metric in a new registry, plus Go runtime and
// process metrics.
func New(bi BuildInfo) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_mcp_requests_total",
			Help: "MCP requests and notifications received, by JSON-RPC method and transport.",
		}, []string{"method", "transport"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tsmcp_mcp_request_duration_seconds",
			Help:    "Time to answer an MCP request, by JSON-RPC method (streams excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_decisions_total",
			Help: "Policy decisions on using a tool, prompt or resource, by kind, name and decision (allow, deny).",
		}, []string{"kind", "name", "decision"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_tool_calls_total",
			Help: "Tool calls that ran, by tool and outcome (ok, tool_error, error, panic, cancelled).",
		}, []string{"tool", "outcome"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tsmcp_tool_call_duration_seconds",
			Help:    "Duration of tool calls that ran, by tool.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"tool"}),
		whoisFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tsmcp_whois_failures_total",
			Help: "Requests refused because WhoIs failed or named no identity.",
		}),
		whoisCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_whois_cache_total",
			Help: "WhoIs lookups by result: hit (answered from the cache), miss (a WhoIs call).",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_limit_refusals_total",
			Help: "Requests refused by a limit (mcp.limits), by limit.",
		}, []string{"limit"}),
		upstreams: newUpstreamMetrics(),
		known:     map[string]map[string]bool{},
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tsmcp_build_info",
		Help: "Always 1; labels describe the binary.",
		ConstLabels: prometheus.Labels{
			"version": bi.Version, "commit": bi.Commit,
			"go_version": orDefault(bi.GoVersion, runtime.Version()), "tailscale_version": bi.TailscaleVersion,
		},
	})
	build.Set(1)
	reg.MustRegister(m.requests, m.requestDuration, m.decisions, m.calls, m.callDuration,
		m.whoisFailures, m.whoisCache, m.refusals, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.oauth = newOAuthMetrics(m)
	reg.MustRegister(m.upstreams.collectors()...)
	reg.MustRegister(m.oauth.collectors()...)
	return m
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// SetNames replaces the names of kind ("tool", "prompt", "upstream", or
// "resource" for upstream prefixes "<upstream>+") that
// may appear as label values: what the host serves now. Past MaxNames the
// rest are counted as Other.
func (m *Metrics) SetNames(kind string, names []string) {
	if m == nil {
		return
	}
	set := make(map[string]bool, min(len(names), MaxNames))
	for _, n := range names {
		if len(set) == MaxNames {
			break
		}
		set[n] = true
	}
	m.mu.Lock()
	m.known[kind] = set
	m.mu.Unlock()
}

// Name returns the label value for name of kind: name itself when the
// host serves it, Other when it is past the bound, Unknown otherwise.
func (m *Metrics) Name(kind, name string) string {
	if m == nil {
		return Unknown
	}
	m.mu.RLock()
	set := m.known[kind]
	ok := set[name]
	full := len(set) == MaxNames
	m.mu.RUnlock()
	switch {
	case ok:
		return name
	case full:
		return Other
	}
	return Unknown
}

// Request counts one MCP message of method (a JSON-RPC method name, or
// "other" for one MCP does not define) on transport.
func (m *Metrics) Request(method, transport string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(Method(method), transport).Inc()
}

// RequestDone records how long a request of method took to answer.
func (m *Metrics) RequestDone(method string, d time.Duration) {
	if m == nil {
		return
	}
	m.requestDuration.WithLabelValues(Method(method)).Observe(d.Seconds())
}

// Decision counts one policy decision of kind on name.
func (m *Metrics) Decision(kind, name string, allow bool) {
	if m == nil {
		return
	}
	d := "deny"
	if allow {
		d = "allow"
	}
	m.decisions.WithLabelValues(kind, m.Name(kind, name), d).Inc()
}

// Call records a tool call that ran: its outcome and duration.
func (m *Metrics) Call(tool, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	name := m.Name("tool", tool)
	m.calls.WithLabelValues(name, outcome).Inc()
	m.callDuration.WithLabelValues(name).Observe(d.Seconds())
}

// WhoIsFailed counts a request refused because WhoIs failed.
func (m *Metrics) WhoIsFailed() {
	if m != nil {
		m.whoisFailures.Inc()
	}
}

// WhoIsCache counts a WhoIs lookup: a cache hit or a WhoIs call.
func (m *Metrics) WhoIsCache(hit bool) {
	if m == nil {
		return
	}
	r := "miss"
	if hit {
		r = "hit"
	}
	m.whoisCache.WithLabelValues(r).Inc()
}

// Refused counts a request refused by limit.
func (m *Metrics) Refused(limit string) {
	if m != nil {
		m.refusals.WithLabelValues(limit).Inc()
	}
}

// MustRegister adds collectors (e.g. one reading upstream states at
// scrape time) to the registry.
func (m *Metrics) MustRegister(cs ...prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(cs...)
	}
}

// Handler serves the registry in the Prometheus text format, together
// with extra, gathered at each scrape (e.g. the tsnet node's own
// metrics); extra may be nil.
func (m *Metrics) Handler(extra prometheus.Gatherer) http.Handler {
	var g prometheus.Gatherer = m.reg
	if extra != nil {
		g = prometheus.Gatherers{m.reg, extra}
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// methods are the JSON-RPC methods MCP defines; anything else is counted
// as "other", so a caller cannot add label values.
var methods = map[string]bool{}

func init() {
	for _, m := range []string{
		"initialize", "ping", "tools/list", "tools/call", "prompts/list", "prompts/get",
		"resources/list", "resources/templates/list", "resources/read", "resources/subscribe",
		"resources/unsubscribe", "completion/complete", "logging/setLevel", "server/discover",
		"subscriptions/listen", "tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
		"notifications/initialized", "notifications/cancelled", "notifications/progress",
		"notifications/roots/list_changed", "sampling/createMessage", "elicitation/create", "roots/list",
	} {
		methods[m] = true
	}
}

// Method returns the label value for a JSON-RPC method name.
func Method(method string) string {
	if methods[method] {
		return method
	}
	return "other"
}

// TextGatherer returns a Gatherer that reads metrics in the Prometheus
// text format from fetch at each scrape (the tsnet node's own metrics:
// LocalClient().UserMetrics), bounded by a short timeout. A failing fetch
// yields no metrics and the error, which the handler logs and skips.
func TextGatherer(fetch func(context.Context) ([]byte, error)) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
		defer cancel()
		b, err := fetch(ctx)
		if err != nil {
			return nil, err
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		out := make([]*dto.MetricFamily, 0, len(fams))
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
}

// gatherTimeout bounds fetching extra metrics at scrape time.
const gatherTimeout = 2 * time.Second
