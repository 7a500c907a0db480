package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// writeDeadlines wraps every response of the tailnet listener in a
// deadlineWriter (mcp.limits.write_timeout). A stalled write cancels the
// request's context, which ends SSE and Streamable HTTP stream loops and
// the calls of a Streamable POST.
func (s *Server) writeDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		dw := newDeadlineWriter(w, s.limits.cfg.WriteTimeout, func(err error) {
			s.log.Warn("client stopped reading; closing its response", "remote", r.RemoteAddr,
				"method", r.Method, "path", r.URL.Path, "err", err)
			cancel()
		})
		defer dw.finish()
		next.ServeHTTP(dw, r.WithContext(ctx))
	})
}

// limitRequests applies the session, stream, call and page limits
// (mcp.limits.*) to one identified request, before the transports see it:
//
//   - GET /sse and GET /mcp hold a stream while they are open;
//   - GET / (the identity page) holds a page view until it is written;
//   - a POST /mcp carrying initialize reserves a session, which the
//     session it mints keeps (see sessionSlot);
//   - a POST carrying tools/call is refused while the caller already runs
//     as many calls as it may (auditCall holds the calls themselves);
//   - a POST /mcp or GET /mcp in a session marks the session used.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		key := id.Key()
		isMCP := r.URL.Path == "/mcp"
		if isMCP {
			for _, sid := range r.Header.Values("Mcp-Session-Id") {
				s.sessions.used(sid)
			}
		}
		switch {
		case r.Method == http.MethodGet && (isMCP || r.URL.Path == "/sse"):
			if ref := s.limits.streams.acquire(key, 1); ref != nil {
				s.refuse(w, r, ref)
				return
			}
			defer s.limits.streams.release(key, 1)
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/":
			if ref := s.limits.pages.acquire(key, 1); ref != nil {
				s.refuse(w, r, ref)
				return
			}
			defer s.limits.pages.release(key, 1)
		case r.Method == http.MethodPost && (isMCP || r.URL.Path == "/message"):
			inits, calls := 0, int64(0)
			for _, m := range peekRPC(r).msgs {
				switch {
				case !m.isRequest():
				case m.Method == string(mcp.MethodInitialize):
					inits++
				case m.Method == string(mcp.MethodToolsCall):
					calls++
				}
			}
			if calls > 0 {
				if ref := s.limits.calls.check(key, calls); ref != nil {
					s.refuse(w, r, ref)
					return
				}
			}
			if isMCP && inits > 0 {
				if ref := s.limits.sessions.acquire(key, 1); ref != nil {
					s.refuse(w, r, ref)
					return
				}
				slot := &sessionSlot{key: key, release: func() { s.limits.sessions.release(key, 1) }}
				defer slot.unlessBound()
				r = r.WithContext(context.WithValue(r.Context(), sessionSlotKey{}, slot))
			}
		}
		next.ServeHTTP(w, r)
	})
}

// check reports the refusal acquire(key, n) would give now, taking nothing.
func (c *counter) check(key string, n int64) *refusal {
	if ref := c.acquire(key, n); ref != nil {
		return ref
	}
	c.release(key, n)
	return nil
}

// acquireCall holds one running tool call for the caller in ctx; it returns
// the release func, or a refusal (audited here) when the caller or the host
// already runs as many calls as it may.
func (s *Server) acquireCall(ctx context.Context, tool string) (release func(), ref *refusal) {
	id, _ := identity.FromContext(ctx)
	key := id.Key()
	if ref := s.limits.calls.acquire(key, 1); ref != nil {
		s.auditLimit(ctx, ref, slog.String("tool", tool))
		return nil, ref
	}
	return func() { s.limits.calls.release(key, 1) }, nil
}
