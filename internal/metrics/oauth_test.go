package metrics

import (
	"errors"
	"strings"
	"testing"
)

// TestOAuthSeries: upstreams with auth start at 0; refreshes and
// authorizations are counted by upstream and outcome; the connected
// identities are read at scrape time, an upstream whose count fails has
// no sample, and a name that is not configured is _unknown.
func TestOAuthSeries(t *testing.T) {
	m := New(BuildInfo{})
	m.SetUpstreams([]string{"gh", "linear", "down"})
	counts := map[string]int{"gh": 2, "linear": 0}
	m.SetOAuth([]string{"gh", "linear", "down"}, func(up string) (int, error) {
		n, ok := counts[up]
		if !ok {
			return 0, errors.New("the store does not answer")
		}
		return n, nil
	})
	m.OAuthRefresh("gh", "ok")
	m.OAuthRefresh("gh", "refused")
	m.OAuthAuthorization("gh", "ok")
	m.OAuthAuthorization("", "unknown_state")
	first := scrape(t, m, nil)
	counts["gh"] = 1
	second := scrape(t, m, nil)
	for _, tt := range []struct{ name, out, line string }{
		{name: "refreshed", out: first, line: `tsmcp_oauth_token_refreshes_total{outcome="ok",upstream="gh"} 1`},
		{name: "refresh refused", out: first, line: `tsmcp_oauth_token_refreshes_total{outcome="refused",upstream="gh"} 1`},
		{name: "no refresh yet, present at 0", out: first, line: `tsmcp_oauth_token_refreshes_total{outcome="ok",upstream="linear"} 0`},
		{name: "connected", out: first, line: `tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"} 1`},
		{name: "a callback naming no upstream", out: first, line: `tsmcp_oauth_authorizations_total{outcome="unknown_state",upstream="_unknown"} 1`},
		{name: "connected identities", out: first, line: `tsmcp_oauth_connected_identities{upstream="gh"} 2`},
		{name: "none connected", out: first, line: `tsmcp_oauth_connected_identities{upstream="linear"} 0`},
		{name: "read at each scrape", out: second, line: `tsmcp_oauth_connected_identities{upstream="gh"} 1`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.out, tt.line+"\n") {
				t.Errorf("/metrics lacks %q:\n%s", tt.line, tt.out)
			}
		})
	}
	if strings.Contains(first, `tsmcp_oauth_connected_identities{upstream="down"}`) {
		t.Error("an upstream whose count failed has a sample")
	}
	var off *Metrics
	off.SetOAuth([]string{"gh"}, nil)
	off.OAuthRefresh("gh", "ok")
	off.OAuthAuthorization("gh", "ok")
}
