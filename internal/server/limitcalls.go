package server

import (
	"context"
	"net/http"
	"time"
)

// orphanCallGrace is how long a legacy SSE call may go on once its stream
// has closed (its answer can no longer be delivered) before it is
// cancelled.
const orphanCallGrace = time.Second

// cancelWithStream cancels the call running in ctx orphanCallGrace after
// its legacy SSE stream closes. (mcp-go runs SSE calls under
// context.WithoutCancel, so nothing else would stop a call whose client
// left.) It returns the func that stops watching; a no-op on other
// transports.
func (s *Server) cancelWithStream(ctx context.Context, cancel context.CancelFunc) (stop func()) {
	st := sseStreamOf(ctx)
	if st == nil {
		return func() {}
	}
	watching := make(chan struct{})
	go func() {
		select {
		case <-watching:
			return
		case <-st.gone:
		}
		t := time.NewTimer(orphanCallGrace)
		defer t.Stop()
		select {
		case <-watching:
		case <-t.C:
			s.log.Info("cancelling a legacy SSE call whose stream has closed", "session", st.sid)
			cancel()
		}
	}()
	return func() { close(watching) }
}

// queueFull refuses a POST /message whose stream already has
// mcp.limits.queue_per_session answers waiting.
func (s *Server) queueFull(w http.ResponseWriter, r *http.Request) {
	s.refuse(w, r, &refusal{key: "mcp.limits.queue_per_session", status: http.StatusTooManyRequests})
}
