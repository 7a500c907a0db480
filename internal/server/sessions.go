package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// sessionStore binds MCP sessions (SSE sessionId, Mcp-Session-Id) to the
// identity that opened them. Every ID is minted by ids, which binds it to
// its owner verifiably (see sessionid.go): a Streamable HTTP session ID is
// honoured for its owner by any host sharing the key, even one that never
// saw it (the host adopts it, see adopt), and refused for anyone else.
// owners holds the sessions this host serves: minted here or adopted.
type sessionStore struct {
	ids *sessionMinter // immutable

	mu     sync.Mutex // guards the fields below
	owners map[string]*identity.Identity
	slots  map[string]*sessionSlot // Streamable HTTP sessions' mcp.limits.sessions_* units
	ended  *tombstones             // sessions ended here, refused if presented again

	sse *sseTracker // immutable
}

// newSessionStore returns a store minting IDs under key (mcp.session_key,
// decoded); an empty key means a random key for this process.
func newSessionStore(key []byte) *sessionStore {
	return &sessionStore{
		ids:    newSessionMinter(key),
		owners: map[string]*identity.Identity{},
		slots:  map[string]*sessionSlot{},
		ended:  newTombstones(maxTombstones, sessionIdleTTL),
		sse:    newSSETracker(),
	}
}

// streamableCount returns how many Streamable HTTP sessions are open.
func (st *sessionStore) streamableCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.slots)
}

// open mints a session ID owned by id.
func (st *sessionStore) open(id *identity.Identity) string {
	sid := st.ids.mint(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owners[sid] = id
	return sid
}

// owner returns the identity that opened sid, if this host serves it, or
// nil.
func (st *sessionStore) owner(sid string) *identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.owners[sid]
}

// ended reports whether sid was ended on this host (DELETE, expiry) and
// must not be served again here.
func (st *sessionStore) wasEnded(sid string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ended.has(sid, time.Now())
}

// close forgets sid: its stream or its registration with mcp-go is gone.
// An adopted session can be adopted again by its owner.
func (st *sessionStore) close(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.owners, sid)
	st.releaseSlotLocked(sid)
}

// end forgets sid and refuses it on this host from now on (for
// sessionIdleTTL at least; see tombstones): the session was terminated
// (DELETE, idle or unused expiry, shutdown).
func (st *sessionStore) end(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.owners, sid)
	st.releaseSlotLocked(sid)
	st.ended.add(sid, time.Now())
}

// sseSessionID is the SSE transport's SessionIDGenFunc: it mints the ID for
// a new /sse stream, bound to the caller.
func (st *sessionStore) sseSessionID(_ context.Context, r *http.Request) (string, error) {
	id, ok := identity.FromContext(r.Context())
	if !ok {
		return "", errUnidentified
	}
	sid := st.open(id)
	st.sse.register(r.Context(), sid)
	return sid, nil
}

var (
	errUnidentified   = errors.New("unidentified caller")
	errUnknownSession = errors.New("unknown session")
)

// ResolveSessionIdManager implements server.SessionIdManagerResolver for the
// Streamable HTTP transport: the manager it returns mints IDs bound to the
// request's caller. r is nil when mcp-go's idle sweeper expires a session.
func (st *sessionStore) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	m := &boundSessions{store: st, slot: slotFrom(r)}
	if r != nil {
		m.caller, _ = identity.FromContext(r.Context())
	}
	return m
}

// boundSessions is a server.SessionIdManager for one request's caller.
type boundSessions struct {
	store  *sessionStore
	caller *identity.Identity // nil outside a request
	slot   *sessionSlot       // reserved by an initialize request; nil otherwise
}

// Generate implements server.SessionIdManager.
func (m *boundSessions) Generate() string {
	if m.caller == nil {
		// Not reachable: mcp-go generates IDs only inside requests, and
		// every request reaching it is identified. An ID bound to no
		// identity is refused by Validate.
		return m.store.ids.mint(nil)
	}
	sid := m.store.open(m.caller)
	m.store.bind(sid, m.slot)
	return sid
}

// Validate implements server.SessionIdManager: an ID is valid for the
// caller it was minted for (here or on any host sharing the key) unless
// it was ended on this host. checkSession has already adopted it.
func (m *boundSessions) Validate(sid string) (isTerminated bool, err error) {
	if m.caller == nil {
		return false, errUnknownSession
	}
	if owner := m.store.owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return false, errUnknownSession
		}
		return false, nil
	}
	if m.store.ids.verify(sid, m.caller) != sidValid {
		return false, errUnknownSession
	}
	if m.store.wasEnded(sid) {
		return true, nil
	}
	return false, nil
}

// Terminate implements server.SessionIdManager. Outside a request (mcp-go's
// idle sweeper, shutdown) it ends sid; in one, only the session's owner
// may.
func (m *boundSessions) Terminate(sid string) (isNotAllowed bool, err error) {
	if m.caller == nil {
		m.store.end(sid)
		return false, nil
	}
	if owner := m.store.owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return true, nil
		}
	} else if m.store.ids.verify(sid, m.caller) != sidValid {
		return false, nil // unknown: nothing to end (checkSession answers 404)
	}
	m.store.end(sid)
	return false, nil
}
