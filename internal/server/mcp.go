package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// sessionIdleTTL is how long a Streamable HTTP session may sit unused before
// it is forgotten. Clients that never send DELETE would otherwise leak them.
const sessionIdleTTL = 30 * time.Minute

// protocolVersions are the Streamable HTTP protocol versions served. The
// stateless 2026-07-28 protocol is served too; see newStreamable.
var protocolVersions = []string{
	mcp.ProtocolVersion20260728,
	mcp.ProtocolVersion20251125,
	mcp.ProtocolVersion20250618,
	mcp.ProtocolVersion20250326,
}

// newMCPServer builds the MCP server: the tools, and the policy applied to
// both tools/list and tools/call through one filter.
func (s *Server) newMCPServer(ts []tools.Tool) *server.MCPServer {
	hooks := &server.Hooks{}
	hooks.AddBeforeCallTool(s.auditDeniedCall)
	hooks.AddBeforeCallTool(hideInvalidName) // after the audit, which logs the name bounded
	hooks.AddBeforeCallTool(dropTaskParam)   // tasks are the host's (tasks.go)
	hooks.AddBeforeCallTool(s.routeNotUp)    // last: a tool not there yet (notup.go)
	hooks.AddAfterInitialize(s.advertiseTasks)
	hooks.AddAfterListTools(s.auditList)
	levels := newLogLevels(s.providers)
	hooks.AddAfterSetLevel(levels.set)
	hooks.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		s.sessions.Close(cs.SessionID())
		levels.forget(cs.SessionID())
	})
	opts := []server.ServerOption{
		server.WithToolCapabilities(true), // tools/list_changed when upstreams change
		server.WithRecovery(),
		server.WithLogging(), // bridged upstreams' log messages, see logLevels
		server.WithHooks(hooks),
		server.WithToolFilter(s.filterTools),
		server.WithToolFilter(s.hideTaskOnly),   // tasks.go
		server.WithToolFilter(s.hideModernOnly), // modernonly.go
		server.WithToolHandlerMiddleware(s.auditCall),
		server.WithInstructions("Tools on this tailnet host. You see only the tools your tailnet identity may call; whoami shows how the host sees you."),
	}
	opts = append(opts, s.featureOptions(hooks)...) // prompts, resources, completions; features.go
	// Paging and cache hints of the lists (listpage.go).
	opts = append(opts, listOptions(s.cfg.MCP.ListPageSize, s.cfg.MCP.ListTTL.Milliseconds())...)
	m := server.NewMCPServer("tsmcp", s.version, opts...)
	m.AddNotificationHandler(string(mcp.MethodNotificationRootsListChanged), s.rootsChanged) // roots.go
	m.AddTools(s.withNotUpTool(ts)...)
	s.mcp = m
	return m
}

// filterTools is the one access decision for tools/list and tools/call:
// mcp-go calls it with the whole list for tools/list and with the one tool
// for tools/call, where a filtered tool is "not found".
func (s *Server) filterTools(ctx context.Context, in []mcp.Tool) []mcp.Tool {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return nil
	}
	policy := s.policy.Load()
	out := in[:0:0]
	for _, t := range in {
		if t.Name == notUpToolName {
			if s.passNotUp(ctx, in) {
				out = append(out, t)
			}
			continue
		}
		if policy.Decide(id, t.Name).Allow {
			out = append(out, t)
		}
	}
	return out
}

// auditList writes one audit line per tools/list: who asked and how many
// tools the policy showed them. (One line per hidden tool would flood the
// log; the per-tool decisions are the same Decide calls that tools/call
// audits one by one.)
func (s *Server) auditList(ctx context.Context, _ any, _ *mcp.ListToolsRequest, res *mcp.ListToolsResult) {
	id, _ := identity.FromContext(ctx)
	shown := 0
	if res != nil {
		shown = len(res.Tools)
	}
	s.audit.Record(ctx, audit.Event{Action: audit.ToolsList, Caller: audit.CallerOf(id), Kind: audit.Tool, Decision: audit.Filter, Shown: shown})
}

// auditDeniedCall writes the audit line for a tools/call the policy
// refuses. (Calls that run are audited by auditCall, with duration and
// outcome; allowed calls of a tool the host does not have by routeNotUp.)
func (s *Server) auditDeniedCall(ctx context.Context, _ any, req *mcp.CallToolRequest) {
	id, _ := identity.FromContext(ctx)
	if d := s.policy.Load().Decide(id, req.Params.Name); !d.Allow {
		s.audit.Record(ctx, audit.Event{Action: audit.ToolCall, Caller: audit.CallerOf(id), Kind: audit.Tool, Name: req.Params.Name,
			Decision: audit.Deny, Reason: d.Reason, Outcome: audit.Refused})
	}
}

// isURLRequired reports whether err is a URLElicitationRequiredError.
func isURLRequired(err error) bool {
	var ur mcp.URLElicitationRequiredError
	return errors.As(err, &ur)
}

// connectAnswer is what a client gets for err, a provider's error of a
// prompt, resource read or completion, when a bridged upstream needs the
// caller to connect it to their account first (an upstream with auth):
// -32042 as it is, for the client to open the connect page and retry, or
// an error naming that page (only the host's own URL). ok is false for
// any other error, which the client gets as a generic one.
func connectAnswer(err error) (answer error, ok bool) {
	var cr *tools.ConnectRequiredError
	switch {
	case isURLRequired(err):
		return err, true
	case errors.As(err, &cr):
		return cr, true
	}
	return nil, false
}

// errToolFailed is what a client sees when a handler fails or panics; the
// details go to the audit log.
var errToolFailed = errors.New("tool failed; details are in the host's log")

// auditCall wraps every tool handler: it counts the call in flight (for the
// shutdown drain), cancels it when the shutdown grace ends, recovers a
// panic, holds the bytes of its answer until it is written (see
// answerHold), and writes the call's audit line. Arguments are never
// logged. (mcp.limits.calls_* was applied when the request arrived.)
func (s *Server) auditCall(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		if req.Params.Name == notUpToolName {
			// Only a call routeNotUp renamed gets here, and it
			// wrote the audit line (notup.go).
			return next(ctx, req)
		}
		done := s.inflight.begin()
		defer done()
		// callerCtx ends when the caller cancels (or goes away).
		callerCtx := ctx
		// mcp-go runs SSE calls under context.WithoutCancel; tie every
		// call to the host's lifetime as well, and an SSE call to its
		// stream's.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.callCtx, cancel)()
		defer onClientCancel(ctx, cancel)()
		defer s.cancelWithStream(ctx, cancel)()

		id, _ := identity.FromContext(ctx)
		d := s.policy.Load().Decide(id, req.Params.Name)
		if !d.Allow {
			// Unreachable while the filter runs first; kept as a second
			// lock on the door.
			return nil, server.ErrToolNotFound
		}
		start := time.Now()
		outcome, detail := audit.OK, ""
		ctx, creds := audit.WithCredentials(ctx)
		defer func() {
			if p := recover(); p != nil {
				outcome, detail = audit.Panic, fmt.Sprint(p)
				res, err = nil, errToolFailed
			}
			s.audit.Record(ctx, audit.Event{Action: audit.ToolCall, Caller: audit.CallerOf(id), Kind: audit.Tool, Name: req.Params.Name,
				Decision: audit.Allow, Reason: d.Reason, Duration: time.Since(start), Outcome: outcome, Err: detail, Credentials: creds()})
		}()
		if why, ok := s.openRetry(id, "tool", req.Params.Name, &req.Params.MultiRoundTripParams); !ok {
			outcome, detail = audit.Refused, why
			return nil, errBadState
		}
		res, err = next(ctx, req)
		if res != nil && res.RequestState != "" {
			// The caller's answer comes back with it: sealed for
			// them and this tool (requeststate.go).
			cp := *res
			if why, ok := s.sealAnswer(id, "tool", req.Params.Name, &cp.MultiRoundTripResult); !ok {
				outcome, detail = audit.Error, why
				return nil, errToolFailed
			}
			res = &cp
		}
		if res != nil {
			// Resource URIs in the result are decided again
			// (resulturis.go); res may be shared, so it is copied.
			if kept, changed := s.allowedContent(ctx, id, "tools/call "+req.Params.Name, res.Content); changed {
				cp := *res
				cp.Content = kept
				res = &cp
			}
		}
		switch {
		case callerCtx.Err() != nil:
			outcome = audit.Cancelled
			if err != nil {
				err = errToolFailed
			}
		case protocolAnswer(ctx, err):
			// The caller's request lacks a capability the upstream
			// needs: answered as the protocol says (rpcanswer.go).
			outcome, detail = audit.Refused, err.Error()
			err = errToolFailed
		case isURLRequired(err):
			// A bridged upstream asks the caller to open URLs first
			// (bounded by the bridge): the client needs this error as
			// it is, to run the flow and retry.
			outcome = audit.URLRequired
		case err != nil:
			outcome, detail = audit.Error, err.Error()
			err = errToolFailed
		case res != nil && res.IsError:
			outcome = audit.ToolError
		case res != nil && res.ResultType == mcp.ResultTypeInputRequired:
			outcome = audit.InputRequired // one event per round trip
			noteInputRequests(ctx, res.InputRequests)
		}
		if err == nil {
			if err = s.holdAnswer(ctx, toolResultSize(res), audit.Event{Kind: audit.Tool, Name: req.Params.Name}); err != nil {
				outcome, detail, res = audit.Error, answerRefused, nil
			}
		}
		// Last: large texts go to the connection without mcp-go's
		// encoding (answersplice.go).
		sp, _ := ctx.Value(answerSpliceKey{}).(*answerSplice)
		return sp.stash(res), err
	}
}

// newStreamable builds the Streamable HTTP transport for /mcp.
func (s *Server) newStreamable(m *server.MCPServer) *server.StreamableHTTPServer {
	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath("/mcp"),
		server.WithSessionIdManagerResolver(s.sessions),
		server.WithSessionIdleTTL(sessionIdleTTL),
		server.WithStreamableHTTPLogger(s.log),
		server.WithStreamableHTTPProtocolVersions(protocolVersions...),
	}
	if ka := s.cfg.MCP.Keepalive; ka > 0 {
		opts = append(opts, server.WithHeartbeatInterval(ka))
	}
	return server.NewStreamableHTTPServer(m, opts...)
}

// newSSE builds the legacy HTTP+SSE transport for /sse and /message.
func (s *Server) newSSE(m *server.MCPServer) *server.SSEServer {
	opts := []server.SSEOption{
		server.WithSSEEndpoint("/sse"),
		server.WithMessageEndpoint("/message"),
		server.WithSessionIDGenerator(s.sessions.sseSessionID),
	}
	// The keep-alive pings come from the tracker's one goroutine, not
	// mcp-go's WithKeepAlive (a goroutine per stream): ssekeepalive.go.
	sse := server.NewSSEServer(m, opts...)
	s.sessions.sse.setKeepalive(s.cfg.MCP.Keepalive, sse.SendEventToSession)
	return sse
}

// tailnetHandler is the one mux of the tailnet listener. Every request is
// identified first; nothing else is served.
func (s *Server) tailnetHandler() http.Handler {
	mux := http.NewServeMux()
	streamable := s.checkVersionHeader(s.reconcileVersion(s.requireSession(s.serveTasks(s.scopeCancels(s.answerErrors(s.streamable))))))
	for _, m := range []string{"POST", "DELETE"} {
		mux.Handle(m+" /mcp", streamable)
	}
	mux.Handle("GET /mcp", browserToPage(streamable)) // GET includes HEAD
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("/.well-known/", serveWellKnown)
	mux.HandleFunc("GET /connect/{upstream}", s.serveConnect) // connect.go
	mux.HandleFunc("POST /connect/{upstream}", s.serveDisconnect)
	mux.HandleFunc("GET /oauth/callback", s.serveCallback)
	mux.Handle("GET /sse", s.sessions.sse.wrapStream(s.sse.SSEHandler()))
	mux.Handle("POST /message", s.sessions.sse.wrapMessage(s.limits.cfg.QueuePerSession, s.queueFull, s.sse.MessageHandler()))
	for path, allow := range map[string]string{"/mcp": "GET, POST, DELETE", "/sse": "GET", "/message": "POST"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound)
	})
	h := s.countRequests(mux)
	h = s.limitRequests(h)
	h = s.checkSession(h)
	h = s.traceRequests(h) // tracing.go; nothing when tracing is off
	h = s.limitBody(int64(s.cfg.MCP.MaxBody), h)
	h = s.checkHost(h)
	h = noCORS(h)
	h = s.identify(h)
	h = s.writeDeadlines(h)
	return h
}
