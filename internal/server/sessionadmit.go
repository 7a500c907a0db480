package server

import (
	"context"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessionid"
)

// admitSession decides whether a request carrying session ID sid may go on
// (checkSession calls it for every ID the request carries); when not, it
// has answered. inQuery says sid came in the sessionId query parameter
// (legacy SSE) rather than the Mcp-Session-Id header.
//
//   - A session this host serves: only its owner passes; anyone else gets
//     404 and a session_hijack audit line naming the owner, as before
//     replicas. A Streamable HTTP session past mcp.session_max_age is
//     ended, and its ID is then refused as below.
//   - An ID that verifies for the caller (minted here or by another host
//     sharing mcp.session_key) on /mcp: the host adopts the session (see
//     adopt), unless it is refused (past its max age, ended here, or
//     issued before the ended sessions' floor; see sessions.Store.Refused),
//     when it is unknown; a legacy SSE ID cannot move (its stream lives on
//     the host that minted it): 404, the client reconnects.
//   - A well-formed ID of this key that does not verify for the caller
//     (another identity's, forged or tampered): 404 and session_hijack.
//   - Anything else (another key, e.g. before a key rotation, or no ID of
//     ours at all) is unknown: 404 where mcp-go would not refuse it itself
//     (/message, GET and DELETE /mcp); a POST /mcp is refused by Validate
//     unless it is an initialize, which ignores the header.
func (s *Server) admitSession(w http.ResponseWriter, r *http.Request, caller *identity.Identity, sid string, inQuery bool) bool {
	onMCP := r.URL.Path == "/mcp"
	unknownRefused := r.URL.Path == "/message" || onMCP && r.Method != http.MethodPost
	// asUnknown answers as for an ID this host does not know: 404 where
	// mcp-go would not refuse it itself; a POST goes on, and mcp-go's
	// Validate refuses it (an initialize ignores the header).
	asUnknown := func() bool {
		if unknownRefused {
			writeError(w, http.StatusNotFound)
			return false
		}
		return true
	}
	if owner := s.sessions.Owner(sid); owner != nil {
		if !owner.Equal(caller) {
			s.auditHijack(r, caller, "session belongs to "+owner.String())
			writeError(w, http.StatusNotFound)
			return false
		}
		if inQuery || !s.sessions.Expired(sid) {
			return true
		}
		// Not r's context: its DELETE is no part of this request.
		s.endSession(context.Background(), sid, owner, "past mcp.session_max_age")
		return asUnknown()
	}
	switch v := s.sessions.Verify(sid, caller); v {
	case sessionid.Foreign:
		s.auditHijack(r, caller, "session ID not issued to this caller")
		writeError(w, http.StatusNotFound)
		return false
	case sessionid.Valid:
		if s.sessions.Refused(sid) {
			return asUnknown()
		}
		if inQuery {
			if unknownRefused {
				s.log.Info("refused a legacy SSE session of another host; its client must reconnect", "caller", caller.String())
				writeError(w, http.StatusNotFound)
				return false
			}
			return true
		}
		if !onMCP || r.Method == http.MethodDelete || isInitialize(r) {
			return true // nothing to hold: mcp-go ends it, or ignores it
		}
		// Adopted, it holds a unit of mcp.limits.sessions_* as a
		// session opened here does (see sessions.Store.Adopt). mcp-go
		// needs nothing else: it serves a request in a session it never
		// initialized with an ephemeral session object (see
		// docs/security.md, "Session IDs").
		var ref *refusal
		s.sessions.Adopt(sid, caller, func() (func(), bool) {
			key := caller.Key()
			if ref = s.limits.sessions.acquire(key, 1); ref != nil {
				return nil, false
			}
			return func() { s.limits.sessions.release(key, 1) }, true
		})
		if ref != nil {
			s.refuse(w, r, ref)
			return false
		}
		s.log.Info("adopted a session minted by another host", "caller", caller.String())
		return true
	default:
		if v == sessionid.OtherKey {
			s.log.Debug("refused a session ID of another key (minted before a key rotation?)", "caller", caller.String())
		}
		return asUnknown()
	}
}

// auditHijack records the session_hijack audit event of a refused session ID.
func (s *Server) auditHijack(r *http.Request, caller *identity.Identity, reason string) {
	s.audit.Record(r.Context(), audit.Event{Action: audit.SessionHijack, Caller: audit.CallerOf(caller), Decision: audit.Deny,
		Reason: reason, Path: r.URL.Path})
}

// isInitialize reports whether r is a POST whose body is an initialize
// request (mcp-go then mints a new session and ignores any presented).
func isInitialize(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := peekRPC(r)
	return p.Single() && p.Method() == string(mcp.MethodInitialize)
}
