package metrics

import "github.com/prometheus/client_golang/prometheus"

// upstreamKind is the name kind of upstream labels (see SetNames).
const upstreamKind = "upstream"

// upstreamMetrics are the series fed by the upstream provider's
// observer (upstream.Observer): restarts and live child processes.
type upstreamMetrics struct {
	restarts *prometheus.CounterVec
	children *prometheus.GaugeVec
}

func newUpstreamMetrics() upstreamMetrics {
	return upstreamMetrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_upstream_restarts_total",
			Help: "Times a bridged upstream's stdio child was restarted or its remote session re-established (per-identity children included), by upstream.",
		}, []string{"upstream"}),
		children: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tsmcp_upstream_children",
			Help: "Live child processes of a bridged stdio upstream (shared or discovery child plus per-identity children), by upstream.",
		}, []string{"upstream"}),
	}
}

func (u upstreamMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{u.restarts, u.children}
}

// SetUpstreams sets the configured upstream names that may appear as
// label values (bounded like every name, see SetNames) and starts each
// one's restart and children series at 0, so that rates and alerts see
// them before the first event.
func (m *Metrics) SetUpstreams(names []string) {
	if m == nil {
		return
	}
	m.SetNames(upstreamKind, names)
	for _, n := range names {
		l := m.Name(upstreamKind, n)
		m.upstreams.restarts.WithLabelValues(l)
		m.upstreams.children.WithLabelValues(l)
	}
}

// UpstreamRestarted counts a restart of upstream's child or session.
func (m *Metrics) UpstreamRestarted(upstream string) {
	if m != nil {
		m.upstreams.restarts.WithLabelValues(m.Name(upstreamKind, upstream)).Inc()
	}
}

// UpstreamChildStarted counts a live child process of upstream.
func (m *Metrics) UpstreamChildStarted(upstream string) {
	if m != nil {
		m.upstreams.children.WithLabelValues(m.Name(upstreamKind, upstream)).Inc()
	}
}

// UpstreamChildExited uncounts a child process of upstream once reaped.
func (m *Metrics) UpstreamChildExited(upstream string) {
	if m != nil {
		m.upstreams.children.WithLabelValues(m.Name(upstreamKind, upstream)).Dec()
	}
}
