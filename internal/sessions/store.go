// Package sessions is the store of a host's MCP sessions: which identity
// owns each session ID the host serves, the sessions adopted from another
// replica sharing the key, the unit of mcp.limits.sessions_* each
// Streamable HTTP session holds (its Slot), and the sessions ended here
// (tombstones, kept in the node's state store across restarts).
//
// IDs are minted and verified by internal/sessionid. What to do with a
// request carrying an ID (answer 404, audit a hijack, adopt, log) and the
// transports themselves are the host's (internal/server): this package
// holds the state those decisions read, with no HTTP in it.
package sessions

import (
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessionid"
)

// maxTombstones bounds the session IDs a host remembers as ended: 16 bytes
// each in the records, a few MB at most in memory.
const maxTombstones = 32768

// clockSkew is how far in the future an ID's issue time may be (another
// replica's clock ahead of this one's); an ID issued later than that is
// refused.
const clockSkew = time.Minute

// Config is what New needs.
type Config struct {
	// Key is the key IDs are minted under (mcp.session_key, decoded).
	// Nil or empty means a random key for this process.
	Key []byte
	// MaxAge is how long a session lives from the minting of its ID
	// (mcp.session_max_age). Zero makes every ID past its age at once.
	MaxAge time.Duration
	// Now is the clock of issue times and max ages. Nil means time.Now.
	Now func() time.Time
}

// Store binds MCP sessions (SSE sessionId, Mcp-Session-Id) to the identity
// that opened them. Every ID is minted by a sessionid.Minter, which binds
// it to its owner verifiably: a Streamable HTTP session ID is honoured for
// its owner by any host sharing the key, even one that never saw it (the
// host adopts it, see Adopt), and refused for anyone else. An ID past its
// max age or ended here is refused (see Refused).
//
// A Store is safe for concurrent use. The zero Store is not usable: use
// New.
type Store struct {
	ids    *sessionid.Minter // immutable
	maxAge time.Duration     // immutable
	now    func() time.Time  // immutable

	mu       sync.Mutex // guards the fields below
	owners   map[string]*identity.Identity
	slots    map[string]*Slot      // Streamable HTTP sessions' mcp.limits.sessions_* units
	ended    *sessionid.Tombstones // sessions ended here, refused if presented again
	stopping bool                  // shutting down: see Stop

	// endedChanged receives a value (without blocking) whenever ended
	// changes, for the writer that keeps it in the node's state store
	// (see StartEndedWriter).
	endedChanged chan struct{}
}

// New returns an empty store for cfg.
func New(cfg Config) *Store {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Store{
		ids:          sessionid.New(cfg.Key),
		maxAge:       cfg.MaxAge,
		now:          now,
		owners:       map[string]*identity.Identity{},
		slots:        map[string]*Slot{},
		ended:        sessionid.NewTombstones(maxTombstones, cfg.MaxAge),
		endedChanged: make(chan struct{}, 1),
	}
}

// StreamableCount returns how many Streamable HTTP sessions are open: the
// sessions holding a Slot (opened here or adopted).
func (st *Store) StreamableCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.slots)
}

// Open mints a session ID owned by id and records it as served here.
func (st *Store) Open(id *identity.Identity) string {
	sid := st.ids.Mint(id, st.now())
	st.mu.Lock()
	defer st.mu.Unlock()
	st.owners[sid] = id
	return sid
}

// Owner returns the identity that opened sid, if this host serves it, or
// nil.
func (st *Store) Owner(sid string) *identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.owners[sid]
}

// Verify says whether sid was minted under the store's key for caller
// (see sessionid.Minter.Verify); it does not look at the store.
func (st *Store) Verify(sid string, caller *identity.Identity) sessionid.Verdict {
	return st.ids.Verify(sid, caller)
}

// Refused reports whether sid, an ID Verify accepted, must not be served
// here: it is past its max age (or issued too far in the future), or it
// was ended on this host (End; also before a restart, see RestoreEnded),
// or it was issued at or before the tombstones' floor. A malformed sid is
// refused.
func (st *Store) Refused(sid string) bool {
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

// Expired reports whether sid is past its max age (or issued too far in
// the future to be trusted) now. A malformed sid is expired.
func (st *Store) Expired(sid string) bool {
	return st.expired(sid, st.now())
}

// expired is Expired at now.
func (st *Store) expired(sid string, now time.Time) bool {
	issued, _, ok := sessionid.Facts(sid)
	return !ok || st.expiredAt(issued, now)
}

func (st *Store) expiredAt(issued, now time.Time) bool {
	return !issued.Add(st.maxAge).After(now) || issued.After(now.Add(clockSkew))
}

// Close forgets sid and gives back its Slot: its stream or its
// registration with the transport is gone. It does not end sid: an
// adopted session can be adopted again by its owner.
func (st *Store) Close(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closeLocked(sid)
}

// closeLocked is Close with st.mu held.
func (st *Store) closeLocked(sid string) {
	delete(st.owners, sid)
	st.releaseSlotLocked(sid)
}

// End forgets sid and refuses it on this host from now on, until its max
// age (see sessionid.Tombstones): the session was terminated (DELETE, idle
// or unused expiry, max age).
func (st *Store) End(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endLocked(sid)
}

// endLocked is End with st.mu held.
func (st *Store) endLocked(sid string) {
	st.closeLocked(sid)
	if issued, tag, ok := sessionid.Facts(sid); ok {
		st.ended.Add(tag, issued, st.now())
		st.notifyEnded()
	}
}

// notifyEnded wakes the writer of the ended sessions' record, if it is not
// already due to run.
func (st *Store) notifyEnded() {
	select {
	case st.endedChanged <- struct{}{}:
	default:
	}
}

// Stop marks the host as shutting down: from now on, the transport
// terminating a session outside a request (mcp-go, at shutdown, terminates
// those with a GET stream) only forgets it (see Manager.Terminate).
// Closing a session at shutdown does not end it: it continues on another
// replica, or here after a restart.
func (st *Store) Stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopping = true
}

// terminated handles the transport terminating sid outside a request: its
// idle sweeper ends it; at shutdown (see Stop) it is only forgotten.
func (st *Store) terminated(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopping {
		st.closeLocked(sid)
		return
	}
	st.endLocked(sid)
}
