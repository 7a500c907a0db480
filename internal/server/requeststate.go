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

// openRetry replaces, in a retried request (kind, name) from caller, the
// sealed requestState with the provider's own; when it does not open for
// them and this request, ok is false and detail says so for the audit
// line. No state is none.
func (s *Server) openRetry(caller *identity.Identity, kind, name string, p *mcp.MultiRoundTripParams) (detail string, ok bool) {
	if p.RequestState == "" {
		return "", true
	}
	payload, ok := s.tasks.ids.OpenState(p.RequestState, caller)
	if ok {
		var rest []byte
		if rest, ok = bytes.CutPrefix(payload, stateFor(kind, name)); ok {
			p.RequestState = string(rest)
			return "", true
		}
	}
	return "requestState not sealed for this caller and " + kind, false
}

// sealAnswer seals, in r (a copy the caller owns), the provider's
// requestState for caller and the request (kind, name); when it is too
// long to carry, ok is false and detail says so for the audit line.
func (s *Server) sealAnswer(caller *identity.Identity, kind, name string, r *mcp.MultiRoundTripResult) (detail string, ok bool) {
	if r.RequestState == "" {
		return "", true
	}
	sealed, ok := s.tasks.ids.SealState(caller, append(stateFor(kind, name), r.RequestState...))
	if !ok {
		return "the provider's requestState is too long to carry", false
	}
	r.RequestState = sealed
	return "", true
}
