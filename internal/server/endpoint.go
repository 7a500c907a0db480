package server

import (
	"cmp"
	"net/http"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// ClientEndpoint is how one caller's MCP clients reach the host, for the
// identity page's settings (see Options.Endpoint).
type ClientEndpoint struct {
	// Base is the endpoint's URL without a path, e.g.
	// http://127.0.0.1:7000. Required.
	Base string
	// Name is the server's name in the client settings, e.g.
	// tsmcp-alice. Empty means the host's short MagicDNS name.
	Name string
	// Connect is the command that starts `tsmcp connect` where the
	// caller is, for stdio-only clients (Claude Desktop): "tsmcp", or an
	// absolute path. Empty means "tsmcp".
	Connect string
}

// endpointFor returns how id reaches the host: Options.Endpoint's answer
// (`tsmcp dev`: the identity's loopback endpoint), or the host's MagicDNS
// name with the request's scheme, and then also the full name's URL
// (empty without MagicDNS).
func (s *Server) endpointFor(r *http.Request, id *identity.Identity) (ep ClientEndpoint, fullURL string) {
	if s.endpoint != nil {
		if ep, ok := s.endpoint(id); ok && ep.Base != "" {
			ep.Name = cmp.Or(ep.Name, s.shortName)
			ep.Connect = cmp.Or(ep.Connect, "tsmcp")
			return ep, ""
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if s.fqdn != "" {
		fullURL = scheme + "://" + s.fqdn + "/mcp"
	}
	return ClientEndpoint{Base: scheme + "://" + s.shortName, Name: s.shortName, Connect: "tsmcp"}, fullURL
}
