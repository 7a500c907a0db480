package server

import (
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// reconcileVersion repairs a POST /mcp whose Mcp-Protocol-Version header
// disagrees with the protocol version the body declares, which mcp-go
// refuses with 400. Current clients do send such requests:
//
//   - a session-era client (no _meta protocol version in the body) that
//     puts the newest version it knows, 2026-07-28 or later, in the header
//     of its initialize, or of a message in its session (it carries
//     Mcp-Session-Id): the header is dropped, so the request is served in
//     the era its body speaks (for initialize, normal version negotiation);
//   - a client speaking the stateless protocol in _meta whose header is
//     absent or still names an older, session-era version: the header is
//     set to the body's version.
//
// Anything else is left to mcp-go, which answers as the 2026-07-28 spec
// says: a request outside a session whose header names a stateless
// version but whose body has no _meta protocol version is -32602 (Invalid
// params); two different stateless versions in header and body are
// -32020 (HeaderMismatch).
//
// Identity never depends on either value, so leniency costs no safety.
func (s *Server) reconcileVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		header := r.Header.Get(mcp.HeaderProtocolVersion)
		p := peekRPC(r)
		meta := p.MetaVersion()
		switch {
		case meta == "" && mcp.IsModernProtocol(header) &&
			(p.Method() == string(mcp.MethodInitialize) || r.Header.Get(server.HeaderKeySessionID) != ""):
			r.Header.Del(mcp.HeaderProtocolVersion)
		case mcp.IsModernProtocol(meta) && header != meta && !mcp.IsModernProtocol(header):
			r.Header.Set(mcp.HeaderProtocolVersion, meta)
		default:
			next.ServeHTTP(w, r)
			return
		}
		s.log.Debug("reconciled a mismatched protocol version header",
			slog.String("header", bounded(header)), slog.String("meta", bounded(meta)), slog.String("remote", r.RemoteAddr))
		next.ServeHTTP(w, r)
	})
}
