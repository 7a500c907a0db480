package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// statelessCalls makes notifications/cancelled of the stateless
// (2026-07-28) protocol reach only the sender's own requests.
//
// mcp-go keys an in-flight request by its session ID and JSON-RPC ID, and
// every stateless request has the empty session ID: any caller could cancel
// any other caller's request by guessing its ID, and two callers using the
// same ID would overwrite each other's entry. So the host keeps its own
// table of in-flight stateless requests, keyed by request ID and owned by
// the caller's identity, and never hands a stateless cancellation to
// mcp-go: it cancels the sender's matching requests itself, and writes an
// audit line when the ID matched only another identity's request. (Session
// requests are left to mcp-go: their keys carry a session ID, and sessions
// are bound to their opener.)
type statelessCalls struct {
	mu    sync.Mutex // guards the field below
	calls map[string][]*statelessCall
}

// statelessCall is one in-flight stateless request.
type statelessCall struct {
	owner  *identity.Identity
	cancel context.CancelFunc
}

func newStatelessCalls() *statelessCalls {
	return &statelessCalls{calls: map[string][]*statelessCall{}}
}

// begin records a request with ID key owned by owner; end forgets it.
func (sc *statelessCalls) begin(key string, owner *identity.Identity, cancel context.CancelFunc) (end func()) {
	c := &statelessCall{owner: owner, cancel: cancel}
	sc.mu.Lock()
	sc.calls[key] = append(sc.calls[key], c)
	sc.mu.Unlock()
	return func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		rest := slices.DeleteFunc(sc.calls[key], func(o *statelessCall) bool { return o == c })
		if len(rest) == 0 {
			delete(sc.calls, key)
		} else {
			sc.calls[key] = rest
		}
	}
}

// cancel cancels caller's requests with ID key, and returns how many it
// cancelled and, if the ID is also in flight for another identity, that
// identity (whose request is left alone).
func (sc *statelessCalls) cancel(key string, caller *identity.Identity) (cancelled int, other *identity.Identity) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, c := range sc.calls[key] {
		if c.owner.Equal(caller) {
			c.cancel()
			cancelled++
		} else if other == nil {
			other = c.owner
		}
	}
	return cancelled, other
}

// requestKey is the table key of a JSON-RPC request ID: a string or a
// number, kept apart ("1" is not 1). Any other ID (null, an object, an
// array, nothing) yields "" and is not tracked.
func requestKey(id any) string {
	switch v := id.(type) {
	case string:
		return "s:" + v
	case float64:
		return "n:" + strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return ""
	}
}

// scopeCancels serves POST /mcp with stateless cancellation scoped to the
// caller (see statelessCalls). It runs after reconcileVersion, so it sees
// the era mcp-go will, decided as mcp-go decides it.
func (s *Server) scopeCancels(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		p := peekRPC(r)
		header := r.Header.Get(mcp.HeaderProtocolVersion)
		meta := p.MetaVersion()
		if !p.Modern(header) {
			next.ServeHTTP(w, r)
			return
		}
		// The fields as mcp-go's HandleMessage reads them: a message
		// whose id is absent or null is a notification.
		id, ok := p.IDValue()
		if !ok {
			next.ServeHTTP(w, r) // mcp-go answers with a parse error
			return
		}
		method := mcp.MCPMethod(p.Method())
		caller, _ := identity.FromContext(r.Context())
		switch {
		case id == nil && method == mcp.MethodNotificationCancelled:
			if header != meta || !slices.Contains(protocolVersions, meta) {
				writeError(w, http.StatusBadRequest) // as mcp-go would answer it
				return
			}
			s.cancelStateless(r.Context(), caller, bufferedBody(r))
			w.WriteHeader(http.StatusAccepted)
		case id != nil && requestKey(id) != "":
			// Not the request's own context: a cancelled call still
			// gets its (error) answer, as with mcp-go's cancellation.
			signal, cancel := context.WithCancel(context.Background())
			defer cancel()
			defer s.stateless.begin(requestKey(id), caller, cancel)()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientCancelKey{}, signal)))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// cancelStateless handles a stateless notifications/cancelled from caller.
func (s *Server) cancelStateless(ctx context.Context, caller *identity.Identity, body []byte) {
	var n mcp.JSONRPCNotification
	if json.Unmarshal(body, &n) != nil {
		return
	}
	id := n.Params.AdditionalFields["requestId"]
	key := requestKey(id)
	if key == "" {
		return
	}
	cancelled, other := s.stateless.cancel(key, caller)
	if other != nil {
		s.audit.Record(ctx, audit.Event{Action: audit.Cancel, Caller: audit.CallerOf(caller), RequestID: key[2:],
			Decision: audit.Deny, Reason: "request belongs to " + other.String(), CancelledOwn: cancelled})
	}
}

type clientCancelKey struct{}

// onClientCancel arranges for cancel to run when the caller cancels the
// stateless request ctx belongs to (see scopeCancels), and returns the
// func that undoes the arrangement. A handler that runs long calls it
// with its own context's cancel; for session requests mcp-go cancels the
// handler's context itself.
func onClientCancel(ctx context.Context, cancel context.CancelFunc) (stop func() bool) {
	signal, ok := ctx.Value(clientCancelKey{}).(context.Context)
	if !ok {
		return func() bool { return false }
	}
	return context.AfterFunc(signal, cancel)
}
