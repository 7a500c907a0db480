package metrics

import (
	"strings"
	"testing"
)

// TestUpstreamSeries: configured upstreams start at 0; restarts and
// children follow the observer calls; a name that is not configured is
// counted as _unknown, and a nil *Metrics records nothing.
func TestUpstreamSeries(t *testing.T) {
	m := New(BuildInfo{})
	m.SetUpstreams([]string{"fs", "gh"})
	m.UpstreamChildStarted("fs")
	m.UpstreamChildStarted("fs")
	m.UpstreamChildExited("fs")
	m.UpstreamRestarted("fs")
	m.UpstreamRestarted("not-configured")
	out := scrape(t, m, nil)
	for _, tt := range []struct{ name, line string }{
		{name: "restarted", line: `tsmcp_upstream_restarts_total{upstream="fs"} 1`},
		{name: "never restarted, present at 0", line: `tsmcp_upstream_restarts_total{upstream="gh"} 0`},
		{name: "not configured", line: `tsmcp_upstream_restarts_total{upstream="_unknown"} 1`},
		{name: "live children", line: `tsmcp_upstream_children{upstream="fs"} 1`},
		{name: "no children, present at 0", line: `tsmcp_upstream_children{upstream="gh"} 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(out, tt.line+"\n") {
				t.Errorf("/metrics lacks %q:\n%s", tt.line, out)
			}
		})
	}
	var off *Metrics
	off.SetUpstreams([]string{"fs"})
	off.UpstreamRestarted("fs")
	off.UpstreamChildStarted("fs")
	off.UpstreamChildExited("fs")
}
