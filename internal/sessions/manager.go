package sessions

import (
	"errors"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessionid"
)

var errUnknownSession = errors.New("unknown session")

// Manager is the store as one request's caller sees it: the session ID
// manager of the Streamable HTTP transport (mcp-go's SessionIdManager,
// which it satisfies), which mints IDs bound to the caller and honours an
// ID only for the identity it was minted for. A Manager with a nil caller
// is the transport's outside a request (its idle sweeper, shutdown). The
// zero Manager is not usable: use Store.Manager.
type Manager struct {
	store  *Store
	caller *identity.Identity // nil outside a request
	slot   *Slot              // reserved by an initialize request; nil otherwise
}

// Manager returns the manager for caller (nil outside a request); slot is
// the unit its request reserved for a new session, or nil.
func (st *Store) Manager(caller *identity.Identity, slot *Slot) *Manager {
	return &Manager{store: st, caller: caller, slot: slot}
}

// Generate mints a session ID owned by the caller, which takes the slot.
// Without a caller it mints an ID bound to no identity, which Validate
// refuses for everyone.
func (m *Manager) Generate() string {
	if m.caller == nil {
		// Not reachable from the host: mcp-go generates IDs only
		// inside requests, and every request reaching it is
		// identified.
		return m.store.ids.Mint(nil, m.store.now())
	}
	sid := m.store.Open(m.caller)
	m.store.bind(sid, m.slot)
	return sid
}

// Validate says whether sid may be served to the caller: an error for an
// ID not minted for it (here or on any host sharing the key), terminated
// for one that is Refused (past its max age, or ended on this host). A
// session this host serves is terminated once past its max age. The host
// has already adopted an ID it may (see Store.Adopt).
func (m *Manager) Validate(sid string) (isTerminated bool, err error) {
	if m.caller == nil {
		return false, errUnknownSession
	}
	if owner := m.store.Owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return false, errUnknownSession
		}
		return m.store.Expired(sid), nil
	}
	if m.store.Verify(sid, m.caller) != sessionid.Valid {
		return false, errUnknownSession
	}
	if m.store.Refused(sid) {
		return true, nil
	}
	return false, nil
}

// Terminate ends sid. Without a caller (the transport's idle sweeper,
// shutdown) it ends it, or, once the store is stopping, only forgets it
// (see Store.Stop). In a request only the session's owner may end it
// (isNotAllowed for anyone else); an ID this host does not serve and that
// is not the caller's is left alone.
func (m *Manager) Terminate(sid string) (isNotAllowed bool, err error) {
	if m.caller == nil {
		m.store.terminated(sid)
		return false, nil
	}
	if owner := m.store.Owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return true, nil
		}
	} else if m.store.Verify(sid, m.caller) != sessionid.Valid {
		return false, nil // unknown: nothing to end (the host answers 404)
	}
	m.store.End(sid)
	return false, nil
}
