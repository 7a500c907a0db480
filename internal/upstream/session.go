package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// maxListPages bounds the pages of one tools/list, against a server whose
// cursors never end.
const maxListPages = 100

// clientName is how tsmcp introduces itself to upstreams.
const clientName = "tsmcp"

// session is one initialized MCP client connection: a stdio child or a
// remote session. It is dead once ctx is done; context.Cause(ctx) says why.
type session struct {
	kind    string // "stdio", "streamable-http" or "sse", for logs
	client  *client.Client
	timeout time.Duration // bounds tools/list and initialize

	ctx    context.Context // done when the session is dead
	cancel context.CancelCauseFunc
	// stop releases everything the session holds (kills and reaps the
	// child, closes connections) and waits for its goroutines.
	stop      func()
	closeOnce sync.Once
	listID    atomic.Int64
	// routes are the calls in flight, for what the upstream sends about
	// them (see routeCalls).
	routes router
	// perIdentity is set for a per-identity child (or session): the
	// callers of its calls are one identity (see attribution.go).
	perIdentity atomic.Bool
	// elicits are the URL-mode elicitations forwarded to callers, for
	// routing their completions (urlelicit.go).
	elicits urlElicits

	mu    sync.Mutex        // guards the fields below
	tools []json.RawMessage // raw tool objects of the last tools/list
	// toolsMore: the last tools/list had more than Bounds.Items tools
	// (the rest were dropped).
	toolsMore bool

	features featureLists // prompts, resources, templates; see listing.go
}

func newSession(kind string, timeout time.Duration) *session {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &session{kind: kind, timeout: timeout, ctx: ctx, cancel: cancel}
}

// fail marks the session dead for reason (the first reason wins); calls in
// flight on it are cancelled.
func (s *session) fail(reason string) { s.cancel(errors.New(reason)) }

// reason is why the session died; "" while it lives.
func (s *session) reason() string {
	if err := context.Cause(s.ctx); err != nil {
		return err.Error()
	}
	return ""
}

// close ends the session and waits until its resources are released.
func (s *session) close() {
	s.fail("closed")
	s.closeOnce.Do(func() {
		if s.stop != nil {
			s.stop()
		}
	})
}

// initialize runs the MCP handshake. The client is pinned to the newest
// protocol revision that still has the initialize handshake (and so
// sessions, the stdio notifications and the standalone GET stream): every
// server in use speaks it, and it avoids a discovery probe that servers
// which ignore unknown methods would let time out.
func (s *session) initialize(ctx context.Context) error {
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: clientName, Version: "upstream-bridge"}
	_, err := s.client.Initialize(ctx, req)
	return err
}

func newClient(tr transport.Interface) *client.Client {
	return client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION),
		client.WithClientCapabilities(upstreamCapabilities()))
}

// listTools sends tools/list itself (rather than through client.ListTools,
// which decodes into mcp.Tool and drops unknown schema keys) and keeps each
// tool's raw JSON, of the first maxItems tools only: once a page takes it
// past them, the rest are dropped and no further page is asked for.
func (s *session) listTools(ctx context.Context, maxItems int) error {
	var all []json.RawMessage
	more := false
	cursor := ""
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxListPages {
			return fmt.Errorf("more than %d pages", maxListPages)
		}
		req := transport.JSONRPCRequest{
			JSONRPC: mcp.JSONRPC_VERSION,
			ID:      mcp.NewRequestId(fmt.Sprintf("tsmcp-list-%d", s.listID.Add(1))),
			Method:  string(mcp.MethodToolsList),
		}
		if cursor != "" {
			req.Params = map[string]any{"cursor": cursor}
		}
		resp, err := s.client.GetTransport().SendRequest(ctx, req)
		if err != nil {
			return err
		}
		if resp.Error != nil {
			return resp.Error.AsError()
		}
		var result struct {
			Tools      []json.RawMessage `json:"tools"`
			NextCursor string            `json:"nextCursor"`
		}
		if err := json.Unmarshal(resp.Result, &result); err != nil {
			return fmt.Errorf("decoding result: %w", err)
		}
		all = append(all, result.Tools...)
		if len(all) > maxItems {
			all, more = slices.Clone(all[:maxItems]), true
			break
		}
		if result.NextCursor == "" {
			break
		}
		if seen[result.NextCursor] {
			return errors.New("repeated cursor")
		}
		seen[result.NextCursor] = true
		cursor = result.NextCursor
	}
	s.mu.Lock()
	s.tools, s.toolsMore = all, more
	s.mu.Unlock()
	return nil
}

// rawTools returns the raw tools of the last tools/list, and whether it
// had more than were kept.
func (s *session) rawTools() ([]json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tools, s.toolsMore
}

// onListChanged calls fn on every notifications/tools/list_changed.
func (s *session) onListChanged(fn func()) {
	s.client.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method == string(mcp.MethodNotificationToolsListChanged) {
			fn()
		}
	})
}
