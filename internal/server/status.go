package server

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// checkVersionHeader refuses, with 400, a request to /mcp whose
// Mcp-Protocol-Version header names a version the host does not serve
// (see protocolVersions), or that has several such headers, whatever its
// method. No header at all is fine: 2025-03-26 clients send none. (mcp-go
// serves an initialize under any header, takes any header that sorts
// after "2026-07-28" for the stateless protocol, and reconcileVersion
// would drop such a header.) It runs before reconcileVersion.
//
// A POST is answered with the JSON-RPC error the 2026-07-28 spec names,
// so that a modern client recognises a modern server and retries with a
// version it lists: -32022 (UnsupportedProtocolVersionError, with the
// versions server/discover lists and the one asked for), or -32020
// (HeaderMismatch) when the header disagrees with the body's _meta or is
// repeated. GET and DELETE get a plain 400.
func (s *Server) checkVersionHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		versions := r.Header.Values(mcp.HeaderProtocolVersion)
		if len(versions) > 1 || len(versions) == 1 && !slices.Contains(protocolVersions, versions[0]) {
			s.log.Debug("refused an unsupported protocol version header", "remote", r.RemoteAddr,
				"method", bounded(r.Method), "protocol_version", bounded(versions[0]))
			if r.Method != http.MethodPost {
				writeError(w, http.StatusBadRequest)
				return
			}
			p := peekRPC(r)
			id, _ := p.IDValue()
			var msg mcp.JSONRPCError
			switch meta := p.MetaVersion(); {
			case len(versions) > 1:
				msg = headerMismatch(id, "several "+mcp.HeaderProtocolVersion+" headers")
			case meta != "" && meta != versions[0]:
				msg = headerMismatch(id, mcp.HeaderProtocolVersion+" header does not match the request's "+mcp.MetaKeyProtocolVersion)
			default:
				msg = mcp.UnsupportedProtocolVersionError{Version: versions[0], Supported: protocolVersions}.JSONRPCError()
				msg.ID = mcp.NewRequestId(id)
			}
			writeJSONRPC(w, http.StatusBadRequest, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerMismatch is the 2026-07-28 HeaderMismatch error (-32020) for the
// request with ID id.
func headerMismatch(id any, reason string) mcp.JSONRPCError {
	return mcp.JSONRPCError{
		JSONRPC: mcp.JSONRPC_VERSION,
		ID:      mcp.NewRequestId(id),
		Error:   mcp.JSONRPCErrorDetails{Code: mcp.HEADER_MISMATCH, Message: "Header mismatch: " + reason},
	}
}

// writeJSONRPC sends msg as a JSON body with status code.
func writeJSONRPC(w http.ResponseWriter, code int, msg any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(msg)
}

// requireSession refuses, with 400, a session-era request to /mcp that
// carries no Mcp-Session-Id, as the Streamable HTTP spec asks (mcp-go
// answers such a POST with 404, opens a new stream for such a GET, and
// says 200 to such a DELETE): every POST but initialize and the client's
// own responses, every GET and every DELETE. Stateless (2026-07-28)
// requests carry no session and are left to mcp-go. It runs after
// reconcileVersion, so it sees the era mcp-go will. Unknown and foreign
// session IDs are checkSession's (404).
func (s *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(server.HeaderKeySessionID) == "" && needsSession(r) {
			s.log.Debug("refused a session-era request without a session", "remote", r.RemoteAddr, "method", bounded(r.Method))
			writeError(w, http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// needsSession reports whether a request to /mcp belongs in a session,
// deciding as mcp-go does: by the era the protocol version header and the
// body's _meta declare, and by the message's shape.
func needsSession(r *http.Request) bool {
	header := r.Header.Get(mcp.HeaderProtocolVersion)
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		// A stateless client's GET or DELETE gets mcp-go's 405.
		return !mcp.IsModernProtocol(header)
	case http.MethodPost:
		p := peekRPC(r)
		if !p.Single() {
			return false // mcp-go answers with a parse error
		}
		if p.Modern(header) {
			return false
		}
		if p.Method() == string(mcp.MethodInitialize) {
			return false
		}
		if p.Method() == "" && p.ID() != nil {
			return false // a response of the client's; mcp-go answers it
		}
		return true
	default:
		return false
	}
}
