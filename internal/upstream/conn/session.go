// Package conn is the connection layer of the upstream bridge: it starts
// a stdio child (or opens a remote session), runs the MCP handshake, and
// keeps one such connection alive under a Supervisor, restarting it with
// exponential backoff. It knows nothing of what is bridged over the
// connection (tool lists, call routing, subscriptions): the layer above
// takes part through Hooks (what the upstream sends on its own) and the
// Supervisor's Config (what to do with each new session).
package conn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// ClientInfo is how tsmcp introduces itself to upstreams, in a session's
// initialize and in the _meta of its own 2026-07-28 requests.
var ClientInfo = mcp.Implementation{Name: "tsmcp", Version: "upstream-bridge"}

// Session is one initialized MCP client connection: a stdio child or a
// remote session. It is dead once its Context is done; Reason says why.
type Session struct {
	kind    string // "stdio", "streamable-http" or "sse", for logs
	client  *client.Client
	timeout time.Duration // bounds initialize (and, above, the listings)

	ctx    context.Context // done when the session is dead
	cancel context.CancelCauseFunc
	// stop releases everything the session holds (kills and reaps the
	// child, closes connections) and waits for its goroutines.
	stop      func()
	closeOnce sync.Once
}

// NewSession returns a live session of kind without a client: the dials
// set one; tests use it as a stand-in that only lives and dies.
func NewSession(kind string, timeout time.Duration) *Session {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Session{kind: kind, timeout: timeout, ctx: ctx, cancel: cancel}
}

// Conn returns s itself: a *Session is what a Supervisor keeps alive.
func (s *Session) Conn() *Session { return s }

// Kind is the session's transport: "stdio", "streamable-http" or "sse".
func (s *Session) Kind() string { return s.kind }

// Client is the session's MCP client.
func (s *Session) Client() *client.Client { return s.client }

// Timeout bounds the session's setup requests (initialize, listings).
func (s *Session) Timeout() time.Duration { return s.timeout }

// Context is done once the session is dead.
func (s *Session) Context() context.Context { return s.ctx }

// Fail marks the session dead for reason (the first reason wins); calls in
// flight on it are cancelled.
func (s *Session) Fail(reason string) { s.cancel(errors.New(reason)) }

// Reason is why the session died; "" while it lives.
func (s *Session) Reason() string {
	if err := context.Cause(s.ctx); err != nil {
		return err.Error()
	}
	return ""
}

// Close ends the session and waits until its resources are released.
func (s *Session) Close() {
	s.Fail("closed")
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
	})
}

// Hooks are how the layer above takes part in each connection.
type Hooks struct {
	// Capabilities are the client capabilities declared to the upstream.
	Capabilities mcp.ClientCapabilities
	// Attach, when set, is called once per connection after its
	// transport started and before the handshake, with the connection's
	// logger (which names a child's pid); the Handlers it returns take
	// what the upstream sends on its own. Nil: nothing is taken.
	Attach func(log *slog.Logger) Handlers
}

// Handlers take what an upstream sends on its own.
type Handlers struct {
	// Notification is called with every notification. Nil: none.
	Notification func(mcp.JSONRPCNotification)
	// Request answers every request other than ping (which the session
	// answers itself), in place of mcp-go's client, so that it keeps
	// every field; ctx is the request's (over Streamable HTTP, the
	// context of the request whose response stream it arrived on). Nil:
	// every such request gets "method not found".
	Request func(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error)
}

// attach wires h's handlers to s, whose client uses tr. It must run after
// the client's Start (which sets the transport's request handler).
func (s *Session) attach(h Hooks, tr transport.Interface, log *slog.Logger) {
	if h.Attach == nil {
		return
	}
	hs := h.Attach(log)
	if bi, ok := tr.(transport.BidirectionalInterface); ok {
		bi.SetRequestHandler(func(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
			switch {
			case req.Method == string(mcp.MethodPing):
				return transport.NewJSONRPCResultResponse(req.ID, json.RawMessage(`{}`)), nil
			case hs.Request == nil:
				return transport.NewJSONRPCErrorResponse(req.ID, mcp.METHOD_NOT_FOUND, "method not found", nil), nil
			}
			return hs.Request(ctx, req)
		})
	}
	if hs.Notification != nil {
		s.client.OnNotification(hs.Notification)
	}
}

// initialize runs the MCP handshake. The client is pinned to the newest
// protocol revision that still has the initialize handshake (and so
// sessions, the stdio notifications and the standalone GET stream): every
// server in use speaks it, and it avoids a discovery probe that servers
// which ignore unknown methods would let time out.
func (s *Session) initialize(ctx context.Context) error {
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	req.Params.ClientInfo = ClientInfo
	_, err := s.client.Initialize(ctx, req)
	return err
}

func newClient(tr transport.Interface, caps mcp.ClientCapabilities) *client.Client {
	return client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION),
		client.WithClientCapabilities(caps))
}
