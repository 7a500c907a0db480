package server

import (
	"bytes"
	"errors"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Request states. A client of the stateless protocol (2026-07-28) answers
// an input_required result by sending its request again with its answers
// and the result's requestState, which is the provider's (for a bridged
// upstream, the upstream's own, or the bridge's). The host seals every
// requestState a client gets (sessionid.SealState, with mcp.session_key)
// for the caller and for the request it answers (a tool or a prompt, by
// name), and opens it again before the provider sees the retry: a state
// presented by another identity, for another tool or prompt, forged or
// tampered with, is refused on any replica, and no upstream ever gets a
// state that was not its own answer to this caller.

// errBadState is the error a client gets for a requestState that does not
// open; the audit line says why.
var errBadState = errors.New("invalid requestState")

// stateFor names what a request state answers: kind ("tool", "prompt")
// and name.
func stateFor(kind, name string) []byte {
	return []byte(kind + "\x00" + name + "\x00")
}

// sealResultState returns r with its requestState sealed for caller and
// the request (kind, name); r itself is not changed (it may be shared).
// ok is false when the state is too long to carry.
func (s *Server) sealResultState(caller *identity.Identity, kind, name string, r mcp.MultiRoundTripResult) (_ mcp.MultiRoundTripResult, ok bool) {
	if r.RequestState == "" {
		return r, true
	}
	sealed, ok := s.tasks.ids.SealState(caller, append(stateFor(kind, name), r.RequestState...))
	if !ok {
		return mcp.MultiRoundTripResult{}, false
	}
	r.RequestState = sealed
	return r, true
}

// openRequestState returns the provider's state of a retried request
// (kind, name) from caller; ok is false when state does not open for
// them and this request. An empty state is none.
func (s *Server) openRequestState(caller *identity.Identity, kind, name, state string) (_ string, ok bool) {
	if state == "" {
		return "", true
	}
	payload, ok := s.tasks.ids.OpenState(state, caller)
	if !ok {
		return "", false
	}
	rest, ok := bytes.CutPrefix(payload, stateFor(kind, name))
	if !ok {
		return "", false
	}
	return string(rest), true
}
