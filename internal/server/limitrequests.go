package server

import (
	"context"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/sessions"
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
//   - GET /sse and GET /mcp hold a stream while they are open, and so
//     does a POST /mcp carrying a 2026-07-28 subscriptions/listen;
//   - GET / (the identity page) holds a page view until it is written;
//   - a POST /mcp carrying initialize reserves a session, which the
//     session it mints keeps (see sessions.Slot);
//   - a POST carrying requests that go to a provider (upstreamMethods)
//     holds a unit of mcp.limits.calls_* for each until its answer is
//     written (see answerHold), or is refused while the caller already
//     holds as many as it may;
//   - a POST /mcp or GET /mcp in a session marks the session used.
func (s *Server) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.FromContext(r.Context())
		key := id.Key()
		isMCP := r.URL.Path == "/mcp"
		if isMCP {
			for _, sid := range r.Header.Values("Mcp-Session-Id") {
				s.sessions.Used(sid)
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
			p := peekRPC(r)
			inits, listens, calls := 0, int64(0), int64(0)
			for _, m := range p.Messages() {
				switch {
				case !m.IsRequest():
				case m.Method == string(mcp.MethodInitialize):
					inits++
				case m.Method == string(mcp.MethodSubscriptionsListen):
					listens++
				case upstreamMethods[m.Method]:
					calls++
				}
			}
			if isMCP && listens > 0 {
				if ref := s.limits.streams.acquire(key, listens); ref != nil {
					s.refuse(w, r, ref)
					return
				}
				defer s.limits.streams.release(key, listens)
			}
			if calls > 0 {
				hold, ref := s.limits.holdCalls(key, calls)
				if ref != nil {
					s.refuse(w, r, ref)
					return
				}
				r = r.WithContext(context.WithValue(r.Context(), answerHoldKey{}, hold))
				if isMCP {
					// Large texts of its answers are written by
					// spliceWriter (answersplice.go).
					sp := &answerSplice{}
					r = r.WithContext(context.WithValue(r.Context(), answerSpliceKey{}, sp))
					w = &spliceWriter{ResponseWriter: w, sp: sp}
				}
				if !isMCP && p.Single() {
					// The answer travels on the session's stream, after
					// the POST's 202: the hold goes with it.
					if forget := s.sessions.sse.holdUntilAnswered(r.URL.Query().Get("sessionId"), p.ID(), hold); forget != nil {
						sw := &statusWriter{ResponseWriter: w}
						next.ServeHTTP(sw, r)
						if sw.status != http.StatusAccepted {
							forget()
							hold.release()
						}
						return
					}
				}
				defer hold.release()
			}
			if isMCP && inits > 0 {
				if ref := s.limits.sessions.acquire(key, 1); ref != nil {
					s.refuse(w, r, ref)
					return
				}
				slot := sessions.NewSlot(func() { s.limits.sessions.release(key, 1) })
				defer slot.ReleaseUnlessBound()
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
