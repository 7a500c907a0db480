package upstream

import "context"

// Attribution: what an upstream sends on its own (a log message, an
// elicitation or sampling request) goes to the caller session whose request
// caused it, or to no caller at all. "The only caller with a call in
// flight" is a guess, not attribution: a message sent after alice's call
// returned would reach bob's unrelated call. The exact means are:
//
//   - the progress token: tsmcp sends each call upstream with a token of its
//     own (see router.byProgressToken);
//   - the stream it arrived on: over Streamable HTTP a message on a call's
//     own response stream belongs to that call (requests carry the call's
//     context, see flightFromContext; log messages are taken off the stream
//     by the remote stream tap, see takeEvent);
//   - the identity's lane: a per-identity child or session serves one
//     identity only, so what it sends belongs to that identity's sessions
//     with calls in flight (a notification goes to each of them; a request
//     only while exactly one session has calls in flight).
//
// Anything else (a shared stdio child, a shared session's standalone stream,
// legacy SSE) is not attributable: a notification goes to tsmcp's own log,
// a request is refused.

// unattributed is logged when an upstream's request is refused because it
// cannot be attributed exactly.
const unattributed = "it cannot be attributed to the call that caused it (not on a call's own stream, and the session is shared by several identities or has several caller sessions in flight)"

// requestFlight returns the flight a server-to-client request that arrived
// with ctx belongs to; nil when it cannot be attributed exactly.
func (s *session) requestFlight(ctx context.Context) *flight {
	if f := flightFromContext(ctx); f != nil {
		return f
	}
	if !s.perIdentity {
		return nil
	}
	if fs := s.routes.sessions(); len(fs) == 1 {
		return fs[0]
	}
	return nil
}

// messageFlights returns the flights (one per caller session) a
// notification that names no call belongs to: on a per-identity session,
// each of the identity's sessions with calls in flight; on a shared one,
// none.
func (s *session) messageFlights() []*flight {
	if !s.perIdentity {
		return nil
	}
	return s.routes.sessions()
}
