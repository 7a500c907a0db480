package server

import (
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/oauth"
)

// Metrics of upstreams with auth: the token manager's events
// (oauth.Config.Observe) count refreshes and authorizations per upstream
// and outcome, and tsmcp_oauth_connected_identities reads, at each
// scrape, the index of connected identities the manager keeps in the
// token store (oauth.Manager.ConnectedIdentities). That index is in the
// store replicas share (mcp.credential_store), so every replica reports
// the same, truthful count of identities holding a token, including those
// that connected through another replica or before a restart; counting
// only what this process saw would be neither. Labels are configured
// upstream names and fixed outcomes, never a login or credential key.

// observeOAuth counts one event of the token manager.
func (s *Server) observeOAuth(e oauth.Event) {
	switch e.Kind {
	case oauth.EventRefreshed:
		s.metrics.OAuthRefresh(e.Upstream, "ok")
	case oauth.EventRefreshFailed:
		s.metrics.OAuthRefresh(e.Upstream, e.Reason)
	case oauth.EventConnected:
		s.metrics.OAuthAuthorization(e.Upstream, "ok")
	case oauth.EventAuthorizationFailed:
		s.metrics.OAuthAuthorization(e.Upstream, e.Reason)
	}
}

// authUpstreamNames returns the names of cfg's upstreams with auth.
func authUpstreamNames(cfg *config.Config) []string {
	var names []string
	for _, u := range cfg.Upstreams {
		if u.Auth != nil {
			names = append(names, u.Name)
		}
	}
	return names
}
