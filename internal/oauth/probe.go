package oauth

import (
	"context"
	"net/http"
	"strings"
)

// probeBody is the request that asks an upstream for its challenge: an
// MCP ping outside any session, sent without a token.
const probeBody = `{"jsonrpc":"2.0","id":"tsmcp-authorization-probe","method":"ping"}`

// probe asks the upstream, without a token, for its Bearer challenge:
// the host starts a caller's authorization before that caller's requests
// ever reached the upstream (a caller without a token is sent to connect
// at once), so there is no 401 of theirs to start from. The MCP
// specification's discovery and scope selection start from that 401
// (resource_metadata and scope of WWW-Authenticate); without one, ok is
// false and discovery falls back to the well-known URLs.
func (m *Manager) probe(ctx context.Context, up *Upstream) (ch Challenge, ok bool) {
	if m.checkURL(up.URL, "upstream") != nil {
		return Challenge{}, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, up.URL, strings.NewReader(probeBody))
	if err != nil {
		return Challenge{}, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		m.log.Debug("oauth: probing the upstream for its challenge", "upstream", up.Name, "err", err)
		return Challenge{}, false
	}
	defer discard(resp)
	if resp.StatusCode != http.StatusUnauthorized {
		return Challenge{}, false
	}
	return ParseChallenge(resp.Header)
}
