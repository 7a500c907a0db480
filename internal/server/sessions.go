package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessions"
)

// sessionStore is the host's MCP sessions: the store of session owners,
// slots and ended sessions (internal/sessions) and the legacy SSE streams
// (sseTracker), with the hooks mcp-go's transports call.
type sessionStore struct {
	*sessions.Store
	sse *sseTracker // immutable
}

// newSessionStore returns a store minting IDs under key (mcp.session_key,
// decoded), which lets a session live maxAge (mcp.session_max_age) from
// the minting of its ID; an empty key means a random key per process. now
// is the clock of issue times and max ages; nil means time.Now.
func newSessionStore(key []byte, maxAge time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{
		Store: sessions.New(sessions.Config{Key: key, MaxAge: maxAge, Now: now}),
		sse:   newSSETracker(),
	}
}

// sseSessionID is the SSE transport's SessionIDGenFunc: it mints the ID for
// a new /sse stream, bound to the caller.
func (st *sessionStore) sseSessionID(_ context.Context, r *http.Request) (string, error) {
	id, ok := identity.FromContext(r.Context())
	if !ok {
		return "", errUnidentified
	}
	sid := st.Open(id)
	st.sse.register(r.Context(), sid)
	return sid, nil
}

var errUnidentified = errors.New("unidentified caller")

// ResolveSessionIdManager implements server.SessionIdManagerResolver for the
// Streamable HTTP transport: the manager it returns mints IDs bound to the
// request's caller (see sessions.Manager). r is nil when mcp-go's idle
// sweeper expires a session.
func (st *sessionStore) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r == nil {
		return st.Manager(nil, nil)
	}
	caller, _ := identity.FromContext(r.Context())
	return st.Manager(caller, slotFrom(r))
}

type sessionSlotKey struct{}

// slotFrom returns the slot limitRequests reserved for r, or nil.
func slotFrom(r *http.Request) *sessions.Slot {
	slot, _ := r.Context().Value(sessionSlotKey{}).(*sessions.Slot)
	return slot
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
			for sid, owner := range s.sessions.Unused(now.Add(-ttl)) {
				s.endSession(ctx, sid, owner, "unused")
			}
			// mcp-go's sweeper sees only the adopted sessions that
			// reached its POST handler; this one sees them all.
			for sid, owner := range s.sessions.IdleAdopted(now.Add(-sessionIdleTTL)) {
				s.endSession(ctx, sid, owner, "idle")
			}
			for sid, owner := range s.sessions.PastMaxAge() {
				s.endSession(ctx, sid, owner, "past mcp.session_max_age")
			}
		}
	}
}

// endSession ends a Streamable HTTP session as its owner's DELETE would,
// which makes mcp-go drop all it holds for it; why is for the log.
func (s *Server) endSession(ctx context.Context, sid string, owner *identity.Identity, why string) {
	if owner == nil {
		s.sessions.End(sid)
		return
	}
	r, err := http.NewRequestWithContext(identity.NewContext(ctx, owner), http.MethodDelete, "/mcp", nil)
	if err != nil {
		return
	}
	r.Header.Set("Mcp-Session-Id", sid)
	r.Header.Set(mcp.HeaderProtocolVersion, mcp.ProtocolVersion20250618)
	s.streamable.ServeHTTP(discardResponse{}, r)
	s.sessions.End(sid) // in case mcp-go did not (it calls Terminate)
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
