package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// oauthMetrics are the series of upstreams with auth (per-identity
// OAuth): refreshes and authorizations, counted from the token manager's
// events (oauth.Config.Observe), and the identities holding a token, read
// at scrape time. Labels are the upstream's configured name and an
// outcome from the manager's fixed set; never an identity.
type oauthMetrics struct {
	refreshes      *prometheus.CounterVec
	authorizations *prometheus.CounterVec
	connected      *connectedCollector
}

var oauthConnectedDesc = prometheus.NewDesc("tsmcp_oauth_connected_identities",
	"Identities holding a token for an upstream with auth, read at scrape time from the index kept in the token store (shared by replicas), by upstream.",
	[]string{"upstream"}, nil)

func newOAuthMetrics(m *Metrics) oauthMetrics {
	return oauthMetrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_oauth_token_refreshes_total",
			Help: "Refreshes of callers' expired tokens for an upstream with auth, by upstream and outcome (ok, refused: the grant is gone; expired: no refresh token; error: the token endpoint failed).",
		}, []string{"upstream", "outcome"}),
		authorizations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsmcp_oauth_authorizations_total",
			Help: "Authorizations of callers to an upstream with auth (a connect that could not begin, or a callback), by upstream and outcome (ok, or why it failed).",
		}, []string{"upstream", "outcome"}),
		connected: &connectedCollector{m: m},
	}
}

func (o oauthMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.refreshes, o.authorizations, o.connected}
}

// connectedCollector reports tsmcp_oauth_connected_identities at scrape
// time.
type connectedCollector struct {
	m *Metrics

	mu        sync.Mutex // guards the fields below
	upstreams []string
	count     func(upstream string) (int, error)
}

func (c *connectedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- oauthConnectedDesc }

// Collect reads each upstream's count; an upstream whose count cannot be
// read (the token store does not answer) has no sample in this scrape.
func (c *connectedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	ups, count := c.upstreams, c.count
	c.mu.Unlock()
	if count == nil {
		return
	}
	for _, up := range ups {
		n, err := count(up)
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(oauthConnectedDesc, prometheus.GaugeValue, float64(n), c.m.Name(upstreamKind, up))
	}
}

// SetOAuth names the upstreams with auth (after SetUpstreams, which makes
// their names label values), starts their refresh and
// authorization series at 0 (outcome ok), and gives the function that
// counts each one's connected identities at scrape time (nil: no
// tsmcp_oauth_connected_identities samples).
func (m *Metrics) SetOAuth(upstreams []string, connected func(upstream string) (int, error)) {
	if m == nil {
		return
	}
	for _, up := range upstreams {
		l := m.Name(upstreamKind, up)
		m.oauth.refreshes.WithLabelValues(l, "ok")
		m.oauth.authorizations.WithLabelValues(l, "ok")
	}
	m.oauth.connected.mu.Lock()
	m.oauth.connected.upstreams, m.oauth.connected.count = upstreams, connected
	m.oauth.connected.mu.Unlock()
}

// OAuthRefresh counts a refresh of a caller's token for upstream with
// outcome (ok, or the manager's failure reason).
func (m *Metrics) OAuthRefresh(upstream, outcome string) {
	if m != nil {
		m.oauth.refreshes.WithLabelValues(m.Name(upstreamKind, upstream), outcome).Inc()
	}
}

// OAuthAuthorization counts an authorization (a connect that could not
// begin, or a callback) for upstream ("": unknown, for a callback naming
// no started authorization) with outcome (ok, or the manager's reason).
func (m *Metrics) OAuthAuthorization(upstream, outcome string) {
	if m != nil {
		m.oauth.authorizations.WithLabelValues(m.Name(upstreamKind, upstream), outcome).Inc()
	}
}
