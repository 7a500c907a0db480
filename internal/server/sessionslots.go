package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// sessionSlot is one unit of mcp.limits.sessions_* reserved by a POST /mcp
// carrying initialize. The session that request mints keeps it until the
// session ends (sessionStore.close); a request that mints none gives it
// back when it returns.
type sessionSlot struct {
	key     string
	release func()
	bound   atomic.Bool // a session holds the slot

	// Guarded by sessionStore.mu once bound.
	opened   time.Time
	inUse    bool      // the session has seen a request after initialize
	adopted  bool      // minted by another host, adopted here (see adopt)
	lastSeen time.Time // adopted sessions: when it last saw a request
}

type sessionSlotKey struct{}

// slotFrom returns the slot reserved for r, or nil.
func slotFrom(r *http.Request) *sessionSlot {
	if r == nil {
		return nil
	}
	slot, _ := r.Context().Value(sessionSlotKey{}).(*sessionSlot)
	return slot
}

// unlessBound gives the slot back if no session took it.
func (sl *sessionSlot) unlessBound() {
	if sl.bound.CompareAndSwap(false, true) {
		sl.release()
	}
}

// bind gives sid the slot, if it is still free.
func (st *sessionStore) bind(sid string, slot *sessionSlot) {
	if slot == nil || !slot.bound.CompareAndSwap(false, true) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	slot.opened = time.Now()
	st.slots[sid] = slot
}

// releaseSlotLocked gives back sid's slot, if it has one. Called with st.mu held.
func (st *sessionStore) releaseSlotLocked(sid string) {
	if slot := st.slots[sid]; slot != nil {
		delete(st.slots, sid)
		slot.release()
	}
}

// used marks sid as in use: it has seen a request after initialize.
func (st *sessionStore) used(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if slot := st.slots[sid]; slot != nil {
		slot.inUse = true
		if slot.adopted {
			slot.lastSeen = time.Now()
		}
	}
}

// pastMaxAge returns the Streamable HTTP sessions whose IDs are past
// mcp.session_max_age at now, with their owners.
func (st *sessionStore) pastMaxAge(now time.Time) map[string]*identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]*identity.Identity{}
	for sid := range st.slots {
		if st.expired(sid, now) {
			out[sid] = st.owners[sid]
		}
	}
	return out
}

// unused returns the sessions opened before cutoff that have seen no
// request after their initialize, with their owners.
func (st *sessionStore) unused(cutoff time.Time) map[string]*identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]*identity.Identity{}
	for sid, slot := range st.slots {
		if !slot.inUse && slot.opened.Before(cutoff) {
			out[sid] = st.owners[sid]
		}
	}
	return out
}

// reapUnusedSessions ends, until ctx is done, every Streamable HTTP session
// that saw only its initialize request for mcp.limits.unused_session_ttl,
// every adopted one idle for sessionIdleTTL (mcp-go's own sweeper ends the
// others), and every one past mcp.session_max_age (a request in such a
// session ends it at once; see admitSession).
func (s *Server) reapUnusedSessions(ctx context.Context) {
	ttl := s.limits.cfg.UnusedSessionTTL
	tick := time.NewTicker(min(max(ttl/4, 50*time.Millisecond), 15*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for sid, owner := range s.sessions.unused(now.Add(-ttl)) {
				s.endSession(ctx, sid, owner, "unused")
			}
			// mcp-go's sweeper sees only the adopted sessions that
			// reached its POST handler; this one sees them all.
			for sid, owner := range s.sessions.idleAdopted(now.Add(-sessionIdleTTL)) {
				s.endSession(ctx, sid, owner, "idle")
			}
			for sid, owner := range s.sessions.pastMaxAge(s.sessions.now()) {
				s.endSession(ctx, sid, owner, "past mcp.session_max_age")
			}
		}
	}
}

// endSession ends a Streamable HTTP session as its owner's DELETE would,
// which makes mcp-go drop all it holds for it; why is for the log.
func (s *Server) endSession(ctx context.Context, sid string, owner *identity.Identity, why string) {
	if owner == nil {
		s.sessions.end(sid)
		return
	}
	r, err := http.NewRequestWithContext(identity.NewContext(ctx, owner), http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	r.Header.Set("Mcp-Session-Id", sid)
	r.Header.Set(mcp.HeaderProtocolVersion, mcp.ProtocolVersion20250618)
	s.streamable.ServeHTTP(discardResponse{}, r)
	s.sessions.end(sid) // in case mcp-go did not (it calls Terminate)
	s.log.Debug("ended a session", "why", why, "session", sid, "caller", owner.String())
}

// discardResponse is a ResponseWriter that keeps nothing.
type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}

// startReaper runs reapUnusedSessions; the returned func stops it.
func (s *Server) startReaper() func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.reapUnusedSessions(ctx)
	}()
	return func() error {
		cancel()
		<-done
		return nil
	}
}
