package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessionid"
)

// sessionStore binds MCP sessions (SSE sessionId, Mcp-Session-Id) to the
// identity that opened them. Every ID is minted by ids, which binds it to
// its owner verifiably (see internal/sessionid): a Streamable HTTP session ID is
// honoured for its owner by any host sharing the key, even one that never
// saw it (the host adopts it, see adopt), and refused for anyone else.
// owners holds the sessions this host serves: minted here or adopted.
// An ID past maxAge (mcp.session_max_age) or ended here is refused (see
// refused).
type sessionStore struct {
	ids    *sessionid.Minter // immutable
	maxAge time.Duration     // immutable
	now    func() time.Time  // immutable once serving: the clock of issue times and max ages

	mu       sync.Mutex // guards the fields below
	owners   map[string]*identity.Identity
	slots    map[string]*sessionSlot // Streamable HTTP sessions' mcp.limits.sessions_* units
	ended    *sessionid.Tombstones   // sessions ended here, refused if presented again
	stopping bool                    // shutting down: see stop

	// endedChanged receives a value (without blocking) whenever ended
	// changes, for the writer that keeps it in the node's state store.
	endedChanged chan struct{}

	sse *sseTracker // immutable
}

// maxTombstones bounds the session IDs a host remembers as ended: 16 bytes
// each in the records, a few MB at most in memory.
const maxTombstones = 32768

// sessionClockSkew is how far in the future an ID's issue time may be
// (another replica's clock ahead of this one's); an ID issued later than
// that is refused.
const sessionClockSkew = time.Minute

// newSessionStore returns a store minting IDs under key (mcp.session_key,
// decoded), which lets a session live maxAge (mcp.session_max_age) from
// the minting of its ID; an empty key means a random key per process.
func newSessionStore(key []byte, maxAge time.Duration) *sessionStore {
	return &sessionStore{
		ids:          sessionid.New(key),
		maxAge:       maxAge,
		now:          time.Now,
		owners:       map[string]*identity.Identity{},
		slots:        map[string]*sessionSlot{},
		ended:        sessionid.NewTombstones(maxTombstones, maxAge),
		endedChanged: make(chan struct{}, 1),
		sse:          newSSETracker(),
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
	sid := st.ids.Mint(id, st.now())
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

// refused reports whether sid, an ID Verify accepted, must not be served
// here: it is past its max age, or it was ended on this host (DELETE, idle
// or unused expiry; also before a restart, see endedsessions.go), or it was
// issued at or before the tombstones' floor.
func (st *sessionStore) refused(sid string) bool {
	issued, tag, ok := sessionid.Facts(sid)
	if !ok {
		return true
	}
	if st.expiredAt(issued, st.now()) {
		return true
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ended.Has(tag, issued)
}

// expired reports whether sid is past its max age (or issued too far in
// the future to be trusted) at now.
func (st *sessionStore) expired(sid string, now time.Time) bool {
	issued, _, ok := sessionid.Facts(sid)
	return !ok || st.expiredAt(issued, now)
}

func (st *sessionStore) expiredAt(issued, now time.Time) bool {
	return !issued.Add(st.maxAge).After(now) || issued.After(now.Add(sessionClockSkew))
}

// close forgets sid: its stream or its registration with mcp-go is gone.
// An adopted session can be adopted again by its owner.
func (st *sessionStore) close(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closeLocked(sid)
}

// closeLocked is close with st.mu held.
func (st *sessionStore) closeLocked(sid string) {
	delete(st.owners, sid)
	st.releaseSlotLocked(sid)
}

// end forgets sid and refuses it on this host from now on, until its max
// age (see sessionid.Tombstones): the session was terminated (DELETE, idle or
// unused expiry, max age).
func (st *sessionStore) end(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endLocked(sid)
}

// endLocked is end with st.mu held.
func (st *sessionStore) endLocked(sid string) {
	st.closeLocked(sid)
	if issued, tag, ok := sessionid.Facts(sid); ok {
		st.ended.Add(tag, issued, st.now())
		select {
		case st.endedChanged <- struct{}{}:
		default:
		}
	}
}

// stop marks the host as shutting down: from now on, mcp-go terminating a
// session outside a request (at shutdown it terminates those with a GET
// stream) only forgets it (see terminated). Closing a session at shutdown
// does not end it: it continues on another replica, or here after a
// restart.
func (st *sessionStore) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopping = true
}

// terminated handles mcp-go terminating sid outside a request: its idle
// sweeper ends it; at shutdown (see stop) it is only forgotten.
func (st *sessionStore) terminated(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopping {
		st.closeLocked(sid)
		return
	}
	st.endLocked(sid)
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
		return m.store.ids.Mint(nil, m.store.now())
	}
	sid := m.store.open(m.caller)
	m.store.bind(sid, m.slot)
	return sid
}

// Validate implements server.SessionIdManager: an ID is valid for the
// caller it was minted for (here or on any host sharing the key) unless
// it is refused (past its max age, or ended on this host). checkSession
// has already adopted it.
func (m *boundSessions) Validate(sid string) (isTerminated bool, err error) {
	if m.caller == nil {
		return false, errUnknownSession
	}
	if owner := m.store.owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return false, errUnknownSession
		}
		return m.store.expired(sid, m.store.now()), nil
	}
	if m.store.ids.Verify(sid, m.caller) != sessionid.Valid {
		return false, errUnknownSession
	}
	if m.store.refused(sid) {
		return true, nil
	}
	return false, nil
}

// Terminate implements server.SessionIdManager. Outside a request (mcp-go's
// idle sweeper, shutdown) it ends sid (see terminated); in one, only the
// session's owner may.
func (m *boundSessions) Terminate(sid string) (isNotAllowed bool, err error) {
	if m.caller == nil {
		m.store.terminated(sid)
		return false, nil
	}
	if owner := m.store.owner(sid); owner != nil {
		if !owner.Equal(m.caller) {
			return true, nil
		}
	} else if m.store.ids.Verify(sid, m.caller) != sessionid.Valid {
		return false, nil // unknown: nothing to end (checkSession answers 404)
	}
	m.store.end(sid)
	return false, nil
}
