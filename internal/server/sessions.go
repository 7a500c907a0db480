package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// sessionStore binds MCP sessions (SSE sessionId, Mcp-Session-Id) to the
// identity that opened them. mcp-go only checks an ID's format; the host
// refuses any other identity that presents a session's ID.
type sessionStore struct {
	mu     sync.Mutex // guards the fields below
	owners map[string]*identity.Identity
	slots  map[string]*sessionSlot // Streamable HTTP sessions' mcp.limits.sessions_* units

	sse *sseTracker // immutable
}

func newSessionStore() *sessionStore {
	return &sessionStore{owners: map[string]*identity.Identity{}, slots: map[string]*sessionSlot{}, sse: newSSETracker()}
}

// newSessionID returns 128 random bits, hex-encoded.
func newSessionID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// streamableCount returns how many Streamable HTTP sessions are open.
func (st *sessionStore) streamableCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.slots)
}

// open mints a session ID owned by id.
func (st *sessionStore) open(id *identity.Identity) string {
	sid := newSessionID()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owners[sid] = id
	return sid
}

// owner returns the identity that opened sid, or nil if sid is unknown.
func (st *sessionStore) owner(sid string) *identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.owners[sid]
}

// close forgets sid.
func (st *sessionStore) close(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.owners, sid)
	st.releaseSlotLocked(sid)
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
		// every request reaching it is identified. An unbound ID would be
		// refused by Validate.
		return newSessionID()
	}
	sid := m.store.open(m.caller)
	m.store.bind(sid, m.slot)
	return sid
}

// Validate implements server.SessionIdManager: only IDs this host minted,
// for this caller, are valid.
func (m *boundSessions) Validate(sid string) (isTerminated bool, err error) {
	owner := m.store.owner(sid)
	if owner == nil {
		return false, errUnknownSession
	}
	if m.caller != nil && !owner.Equal(m.caller) {
		return false, errUnknownSession
	}
	return false, nil
}

// Terminate implements server.SessionIdManager.
func (m *boundSessions) Terminate(sid string) (isNotAllowed bool, err error) {
	owner := m.store.owner(sid)
	if owner == nil {
		return false, nil
	}
	if m.caller != nil && !owner.Equal(m.caller) {
		return true, nil
	}
	m.store.close(sid)
	return false, nil
}
