package oauth

import (
	"errors"
	"slices"
)

// Observing: Config.Observe gets an Event for each token refresh, each
// finished, refused or failed authorization and each disconnection, so the host
// can count them (metrics). An Event names the upstream and a reason from
// a fixed set, never an identity, a token or anything the caller or the
// authorization server wrote.
//
// The identities holding a token for an upstream are kept in a sealed
// index record of the same Store (ConnectedIdentities): the tokens' own
// state-store keys are HMACs, so the store cannot be enumerated per
// upstream, and replicas sharing the store must agree on one count. The
// index is updated after every connect, disconnect and deletion of a
// token (refresh refused or impossible, token rejected by the upstream):
// an identity is listed when its token exists at that moment; every
// update also drops (a bounded number of) identities whose token is gone,
// and a successful refresh adds its identity when missing, so an update
// lost to two replicas writing the index at the same instant (the state
// store has no compare-and-swap) heals at later updates or refreshes.

// EventKind is what happened to an identity's authorization to an
// upstream.
type EventKind string

// The kinds of Event.
const (
	// EventRefreshed: an expired access token was refreshed.
	EventRefreshed EventKind = "refreshed"
	// EventRefreshFailed: refreshing failed; Reason is RefreshRefused,
	// RefreshExpired or RefreshError.
	EventRefreshFailed EventKind = "refresh_failed"
	// EventConnected: Finish stored a token.
	EventConnected EventKind = "connected"
	// EventDisconnected: Disconnect deleted the identity's token.
	EventDisconnected EventKind = "disconnected"
	// EventAuthorizationFailed: Start could not begin, or Finish refused
	// a callback or could not get a token; Reason is one of the Auth
	// reasons.
	EventAuthorizationFailed EventKind = "authorization_failed"
)

// Reasons of EventRefreshFailed.
const (
	// RefreshRefused: the authorization server refused the refresh (a
	// revoked or expired grant); the token was deleted.
	RefreshRefused = "refused"
	// RefreshExpired: the access token expired and no refresh token is
	// held; the token was deleted.
	RefreshExpired = "expired"
	// RefreshError: the token endpoint could not be reached, answered a
	// server error, or the new token could not be stored; the token is
	// kept.
	RefreshError = "error"
)

// Reasons of EventAuthorizationFailed.
const (
	// AuthStartError: Start could not begin the authorization (the
	// discovery of the authorization server or the client registration
	// failed).
	AuthStartError = "start_error"
	// AuthUnknownState: the callback's state belongs to no started
	// authorization (forged, replayed or finished); Event.Upstream is "".
	AuthUnknownState = "unknown_state"
	// AuthExpiredState: the authorization expired before its callback.
	AuthExpiredState = "expired_state"
	// AuthWrongIdentity: another identity than the one that started the
	// authorization brought its callback.
	AuthWrongIdentity = "wrong_identity"
	// AuthIssuerMismatch: the callback named another issuer (RFC 9207).
	AuthIssuerMismatch = "issuer_mismatch"
	// AuthDenied: the authorization server sent an error (such as
	// access_denied) or no code.
	AuthDenied = "denied"
	// AuthTokenError: the token endpoint refused or failed the code
	// exchange, or the token could not be stored.
	AuthTokenError = "token_error"
)

// Event is one thing that happened to an identity's authorization. It
// never carries the identity, a token or text from the outside.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Upstream is the upstream's configured name; "" when the callback
	// named no authorization this Manager started.
	Upstream string
	// Reason is why a refresh or an authorization failed (the constants
	// above); "" for the other kinds.
	Reason string
}

// done records e: the index of e.Upstream follows what happened to
// identity's token, then Config.Observe gets e. It is called with no lock
// of m held.
func (m *Manager) done(identity string, e Event) {
	switch {
	case e.Kind == EventConnected, e.Kind == EventDisconnected, e.Kind == EventRefreshFailed && e.Reason != RefreshError:
		m.indexUpdate(e.Upstream, identity, false)
	case e.Kind == EventRefreshed:
		m.indexUpdate(e.Upstream, identity, true)
	}
	if m.cfg.Observe != nil {
		m.cfg.Observe(e)
	}
}

// indexOwner is the owner of the index of the identities holding a token
// for upstream.
func indexOwner(upstream string) owner {
	return owner{kind: "index", parts: []string{upstream}}
}

// index is the identities (keys as given to Finish) holding a token for
// an upstream, as stored (sealed).
type index struct {
	Identities []string `json:"identities"`
}

// indexPruneChecks bounds the other identities one index update checks
// for a token (a state-store read each: with a Kubernetes Secret or SSM,
// an API call); those checked go to the end of the list, so successive
// updates check them all in turn.
const indexPruneChecks = 16

// indexUpdate makes identity's place in upstream's index follow whether
// it holds a token now (so an update racing another of the same identity
// cannot leave it wrong), and drops up to indexPruneChecks other
// identities whose token is gone. With heal (after a refresh), an
// identity already listed leaves the index untouched. Failures are
// logged: the index is a count, never a reason to refuse.
func (m *Manager) indexUpdate(upstream, identity string, heal bool) {
	if upstream == "" || identity == "" {
		return
	}
	m.indexMu.Lock()
	defer m.indexMu.Unlock()
	o := indexOwner(upstream)
	var ix index
	if err := m.cfg.Store.get(o, &ix); err != nil && !errors.Is(err, errNoRecord) {
		m.log.Warn("oauth: the index of connected identities is unreadable; rebuilding it", "upstream", upstream, "err", err)
		ix = index{}
	}
	has := m.cfg.Store.exists(tokenOwner(identity, upstream))
	if heal && has && slices.Contains(ix.Identities, identity) {
		return
	}
	var others []string
	for _, id := range ix.Identities {
		if id != identity && !slices.Contains(others, id) {
			others = append(others, id)
		}
	}
	n := min(len(others), indexPruneChecks)
	keep := slices.Clone(others[n:])
	for _, id := range others[:n] {
		if m.cfg.Store.exists(tokenOwner(id, upstream)) {
			keep = append(keep, id)
		}
	}
	if has {
		keep = append(keep, identity)
	}
	if slices.Equal(keep, ix.Identities) {
		return
	}
	var err error
	if len(keep) == 0 {
		err = m.cfg.Store.del(o)
	} else {
		err = m.cfg.Store.put(o, index{Identities: keep})
	}
	if err != nil {
		m.log.Warn("oauth: the index of connected identities was not updated", "upstream", upstream, "err", err)
	}
}

// ConnectedIdentities returns how many identities hold a token for
// upstream, from the index shared through the Store (one read).
func (m *Manager) ConnectedIdentities(upstream string) (int, error) {
	var ix index
	switch err := m.cfg.Store.get(indexOwner(upstream), &ix); {
	case errors.Is(err, errNoRecord):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return len(ix.Identities), nil
}
