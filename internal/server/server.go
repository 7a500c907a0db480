// Package server is the tsmcp host: it joins the tailnet with tsnet, serves
// MCP (Streamable HTTP at /mcp, legacy SSE at /sse and /message) on the
// tailnet address only, identifies every request with WhoIs, and serves
// /health and /readyz on a separate plain-HTTP listener.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"go.opentelemetry.io/otel/trace"
	"tailscale.com/client/local"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/whois"
)

// Options configure a Server.
type Options struct {
	// Config is the configuration; New validates it. Required.
	Config *config.Config
	// Logger receives operational logs, and audit logs unless AuditLogger
	// is set. Nil means slog.Default().
	Logger *slog.Logger
	// AuditLogger receives the audit lines (log.audit). Nil means Logger.
	AuditLogger *slog.Logger
	// Verbose passes tsnet's own (chatty) logs to Logger at debug level.
	// False discards them; messages meant for users, such as a login URL,
	// are always logged.
	Verbose bool
	// Version is reported to MCP clients. Empty means "dev".
	Version string
	// WhoIs, if non-nil, replaces the tsnet node's WhoIs. Tests use it to
	// simulate failures; production leaves it nil.
	WhoIs WhoIsFunc
	// Tools supplies the tools: the commands pass the configured ones
	// (internal/toolset), tests may pass Providers(...). The server
	// starts it once joined and closes it. Nil means only the built-in
	// tools.
	Tools ToolSource
	// HeaderTimeout bounds how long a client on the tailnet listener may
	// take to send a request's headers. Zero means 10s.
	HeaderTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send a request's
	// body. Zero means 30s.
	BodyTimeout time.Duration
	// Endpoint, if non-nil, says how a caller's clients reach this host
	// when that is not by the host's tailnet name, for the identity
	// page's settings: `tsmcp dev` answers each demo identity's loopback
	// endpoint. A false ok (or a nil Endpoint) means the MagicDNS name.
	Endpoint func(id *identity.Identity) (ep ClientEndpoint, ok bool)
	// TracerProvider traces the MCP requests (see tracing.go). Nil means
	// the global provider when tracing.Setup installed one, and no
	// tracing otherwise.
	TracerProvider trace.TracerProvider

	// clock, set only by tests (export_test.go), replaces time.Now for
	// session IDs' issue times and max ages. Nil means time.Now.
	clock func() time.Time
	// staleWhoIs, set only by tests (export_test.go), turns off the WhoIs
	// cache's invalidation, to show that its tests can fail.
	staleWhoIs bool
}

// Server is the tsmcp host. Create it with New, start it with Run, stop it
// by cancelling Run's context or with Close.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	audit   audit.Sink // every audit event (audit.go)
	verbose bool
	version string

	headerTimeout time.Duration
	bodyTimeout   time.Duration
	policy        atomic.Pointer[acl.Policy] // swapped by Reload
	// toolSrc supplies the providers (Options.Tools; nil: the built-in
	// tools only).
	toolSrc ToolSource
	// providers supply the tools: started from toolSrc by Run once
	// joined. Set before ready; read-only afterwards.
	providers  []tools.Provider
	toolsDirty chan struct{} // a provider's tools changed; see refreshTools
	// listsDirty: what callers may see changed (a reload, the grants);
	// see notifyLists.
	listsDirty chan struct{}
	sessions   *sessionStore
	// tasks seal task IDs and remember callers' tasks (tasks.go).
	tasks    *taskHost
	inflight *inflight
	// metrics are the host's Prometheus metrics; nil when
	// health.metrics is off.
	metrics *metrics.Metrics
	// stateless scopes stateless cancellations to their sender.
	stateless *statelessCalls
	limits    *limits // mcp.limits
	// warns logs the lines a client or an upstream can make the host
	// repeat at will (a dropped update, a refused request) without
	// flooding the log.
	warns *logx.Repeats
	// tracer starts the requests' spans; nil when tracing is off.
	tracer trace.Tracer
	// res serves the providers' resources (nil when none supply them);
	// promptsDirty: a provider's prompts changed (nil when none supply
	// them). Both set by newMCPServer; see resources.go, prompts.go.
	res          *resourceHost
	promptsDirty chan struct{}
	// creds is the host's side of upstreams with auth (credentials.go);
	// nil when none is configured. Set by Run before ready.
	creds *credentials
	// notUp hands calls of tools whose upstream never came up from the
	// call hook to the tool filter (notup.go).
	notUp notUpCalls

	// endpoint is Options.Endpoint: how callers reach the host, for the
	// identity page; nil means by its MagicDNS name.
	endpoint func(*identity.Identity) (ClientEndpoint, bool)

	// callCtx is cancelled when the shutdown grace ends; every tool call's
	// context is cancelled with it.
	callCtx     context.Context
	cancelCalls context.CancelFunc

	ready    atomic.Bool // node Running and tools loaded
	draining atomic.Bool // shutdown has begun

	started chan struct{} // closed once the health listener is bound
	readyCh chan struct{} // closed once MCP is served on the tailnet
	done    chan struct{} // closed when Run returns

	// Set by Run before started/readyCh close; read-only afterwards.
	healthAddr net.Addr
	tailnetIP  netip.Addr
	joinDiag   *joinDiag        // explains a failed join; set by newNode
	hosts      hostSet          // names a request's Host may carry
	svcLn      *serviceListener // nil without tailnet.service
	shortName  string           // the node's MagicDNS short name, e.g. tsmcp
	fqdn       string           // its full MagicDNS name; empty without MagicDNS
	mcp        *server.MCPServer
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer

	// whoisStale, set only by tests (export_test.go), turns off the WhoIs
	// cache's invalidation.
	whoisStale bool

	mu         sync.Mutex // guards the fields below
	whoisFn    WhoIsFunc
	lc         *local.Client // the node's LocalAPI; nil until joined
	whoisCache *whois.Cache  // nil when Options.WhoIs replaced the node's
	whoisSvcFn WhoIsFunc     // the Service listener's; nil without tailnet.service
	// tailnetSuffix is the node's MagicDNS suffix: callers whose node
	// names are not under it are autogroup:shared. Set once joined.
	tailnetSuffix string
	cancel        context.CancelFunc // cancels Run; nil until Run starts
	closed        bool               // Close was called
}

// New validates the configuration and prepares a Server. It starts nothing
// and touches no network: an invalid configuration fails here, before the
// tailnet is joined.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("server: no configuration")
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if err := serviceSupported(opts.Config); err != nil {
		return nil, err
	}
	policy, err := acl.New(opts.Config.ACL)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sessionKey, err := config.ParseSessionKey(opts.Config.MCP.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("mcp.session_key: %w", err)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	callCtx, cancelCalls := context.WithCancel(context.Background())
	s := &Server{
		callCtx:       callCtx,
		cancelCalls:   cancelCalls,
		headerTimeout: cmp.Or(opts.HeaderTimeout, defaultHeaderTimeout),
		bodyTimeout:   cmp.Or(opts.BodyTimeout, defaultBodyTimeout),
		cfg:           opts.Config,
		log:           logger,
		metrics:       newMetrics(opts.Config.Health.Metrics, version),
		verbose:       opts.Verbose,
		version:       version,
		toolSrc:       opts.Tools,
		toolsDirty:    make(chan struct{}, 1),
		listsDirty:    make(chan struct{}, 1),
		sessions:      newSessionStore(sessionKey, opts.Config.MCP.SessionMaxAge, opts.clock),
		tasks:         newTaskHost(sessionKey),
		inflight:      newInflight(),
		stateless:     newStatelessCalls(),
		limits:        newLimits(opts.Config.MCP.Limits),
		warns:         logx.NewRepeats(logger, 0, 1),
		tracer:        newTracer(opts.TracerProvider, version),
		whoisFn:       opts.WhoIs,
		endpoint:      opts.Endpoint,
		whoisStale:    opts.staleWhoIs,
		started:       make(chan struct{}),
		readyCh:       make(chan struct{}),
		done:          make(chan struct{}),
	}
	s.audit = newAudit(cmp.Or(opts.AuditLogger, logger), s.metrics, s.tracer != nil)
	s.policy.Store(policy)
	return s, nil
}

// Started is closed once the health listener is bound; HealthAddr is valid
// from then on.
func (s *Server) Started() <-chan struct{} { return s.started }

// Ready is closed once the node is Running, the tools are loaded and MCP is
// served on the tailnet; TailnetIP is valid from then on.
func (s *Server) Ready() <-chan struct{} { return s.readyCh }

// HealthAddr is the bound address of the health listener (useful with port
// 0). Valid once Started is closed.
func (s *Server) HealthAddr() net.Addr { return s.healthAddr }

// TailnetIP is the host's tailnet IPv4 address. Valid once Ready is closed.
func (s *Server) TailnetIP() netip.Addr { return s.tailnetIP }

// Close stops a running Server as a SIGTERM would, and waits for Run to
// return. Called before Run, it makes Run return at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		// Run never started: release the tool source here.
		return s.closeToolSource()
	}
	cancel()
	<-s.done
	return nil
}

// closeToolSource closes Options.Tools, if any.
func (s *Server) closeToolSource() error {
	if s.toolSrc == nil {
		return nil
	}
	return s.toolSrc.Close()
}

// Run serves until ctx is cancelled or a listener fails, then drains and
// stops: readiness turns 503 at once, in-flight tool calls get until
// mcp.shutdown_grace, SSE and Streamable streams are closed, and every
// listener and the tsnet node are shut down. It returns nil after a clean
// shutdown. Run may be called once.
//
// Run is a sequence of phases, each of which leaves what it started on one
// cleanup stack; the stack runs in reverse order when Run returns, on every
// path, so whatever phase fails, everything started before it is stopped.
func (s *Server) Run(ctx context.Context) (err error) {
	ctx, cancel, err := s.begin(ctx)
	if cancel == nil {
		return err
	}
	defer close(s.done)
	defer s.warns.Flush() // the counts of lines held back
	defer cancel()
	defer s.cancelCalls()

	var cleanup cleanups
	defer func() { err = errors.Join(err, cleanup.run()) }()
	// Releases the tool source if Run stops before starting it (after
	// Start it does nothing: the providers are on the stack).
	cleanup.add("tool source", s.closeToolSource)

	serveErr := make(chan error, 3)
	if err := s.startHealth(&cleanup, serveErr); err != nil {
		return err
	}
	node, joined, err := s.joinTailnet(ctx, &cleanup)
	if !joined {
		return err
	}
	lc, err := s.startIdentification(ctx, node, &cleanup)
	if err != nil {
		return err
	}
	if err := s.startCredentials(node); err != nil {
		return err
	}
	ts, err := s.loadTools(ctx, &cleanup)
	if err != nil {
		return err
	}
	s.startMCP(ctx, ts, &cleanup)
	servers, err := s.listenTailnet(node, lc, &cleanup, serveErr)
	if err != nil {
		return err
	}
	s.markReady(len(ts))
	return s.serveUntilStopped(ctx, lc, serveErr, servers)
}

// begin claims the Server for Run and returns the context Run serves
// under, which Close cancels. A nil cancel means Run must return err at
// once: Run was called before (an error), or Close came first (nil, and
// Done is closed).
func (s *Server) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	s.mu.Lock()
	if s.cancel != nil {
		s.mu.Unlock()
		return nil, nil, errors.New("server: Run called twice")
	}
	if s.closed {
		s.mu.Unlock()
		close(s.done)
		return nil, nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.mu.Unlock()
	return ctx, cancel, nil
}

// markReady turns readiness on once MCP is served on the tailnet: /readyz
// answers 200, Ready is closed, and "ready" is logged with the number of
// tools loaded.
func (s *Server) markReady(tools int) {
	s.ready.Store(true)
	close(s.readyCh)
	s.log.Info("ready", "tailnet_ip", s.tailnetIP.String(), "tools", tools)
}

// serveUntilStopped is Run's last phase: it serves until ctx is cancelled
// (then the Service stops taking new connections and "shutting down" is
// logged) or a listener fails (an error, logged), then drains the MCP
// servers. It returns the listener's error joined with drain's; what is
// left on the cleanup stack is stopped by Run.
func (s *Server) serveUntilStopped(ctx context.Context, lc *local.Client, serveErr <-chan error, servers []*http.Server) error {
	var runErr error
	select {
	case <-ctx.Done():
		s.drainService(lc)
		s.log.Info("shutting down", "grace", s.cfg.MCP.ShutdownGrace.String())
	case runErr = <-serveErr:
		s.log.Error("listener failed; shutting down", "err", runErr)
	}
	return errors.Join(runErr, s.drain(servers))
}

// streamCloseDelay is the pause between the last answer written to a
// legacy SSE stream and the closing of the streams at shutdown.
const streamCloseDelay = 200 * time.Millisecond

// cutAnswerWait bounds how long drain waits, once the grace has expired and
// the calls still in flight are cancelled, for their error answers to be
// written to their streams.
const cutAnswerWait = 2 * time.Second

// requestsEndWait bounds how long drain waits, once the streams are closed,
// for the requests still being answered (a POST writing its answer) to
// end before their connections are cut.
const requestsEndWait = time.Second

// drain stops serving MCP: readiness first, then in-flight calls get until
// the grace period ends; calls still running then are cancelled and get
// until cutAnswerWait for their error answers to reach their streams; then
// streams are closed and the servers stopped. A drain whose grace expired
// is still a clean stop: only a listener that fails otherwise is an error.
func (s *Server) drain(servers []*http.Server) error {
	s.draining.Store(true)
	s.ready.Store(false)

	grace, cancel := context.WithTimeout(context.Background(), s.cfg.MCP.ShutdownGrace)
	defer cancel()

	// Stop accepting connections; in-flight requests continue. Shutdown
	// returns once every connection is idle, which the long-lived streams
	// prevent until they are closed below.
	requestsEnd, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	shut := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { shut <- srv.Shutdown(requestsEnd) }()
	}

	// Let in-flight tool calls finish and their answers reach the client
	// (on the SSE transport they travel on the stream, so streams stay
	// open until then).
	s.log.Debug("drain: waiting for in-flight tool calls")
	s.waitAnswered(grace)
	if grace.Err() != nil {
		s.log.Warn("shutdown grace expired with tool calls in flight; cancelling them")
		s.cancelCalls()
		cut, cancelCut := context.WithTimeout(context.Background(), cutAnswerWait)
		s.waitAnswered(cut)
		if cut.Err() != nil {
			s.log.Warn("cancelled tool calls did not end in time; their callers get no answer", "waited", cutAnswerWait.String())
		}
		cancelCut()
	}
	if s.sessions.sse.open() > 0 {
		// Some clients (the Go SDK's SSE client among them) drop an answer
		// that arrives just before its stream ends: let them read it.
		time.Sleep(streamCloseDelay)
	}

	s.log.Debug("drain: closing streams")
	// Close the long-lived streams so Shutdown can complete. The sessions
	// closed now are not ended: they continue elsewhere (see stop).
	s.sessions.Stop()
	s.sse.CloseSessions()
	streamCtx, streamCancel := context.WithTimeout(context.Background(), time.Second)
	s.streamable.CloseSessions(streamCtx)
	err := s.streamable.Shutdown(streamCtx) // stops the idle sweeper
	streamCancel()

	// The requests still being answered (a cut call's POST writing its
	// error answer) get a moment to end; then what is left is cut.
	defer time.AfterFunc(requestsEndWait, stopWaiting).Stop()
	cut := false
	for range servers {
		switch e := <-shut; {
		case errors.Is(e, context.Canceled):
			cut = true
		case e != nil:
			err = errors.Join(err, fmt.Errorf("stopping MCP listener: %w", e))
		}
	}
	if cut {
		s.log.Warn("requests still open after the streams closed; cutting them", "waited", requestsEndWait.String())
		for _, srv := range servers {
			srv.Close()
		}
	}
	return err
}

// waitAnswered waits until no tool call is in flight and every request
// posted on a legacy SSE session has its answer written to the stream, or
// until ctx ends.
func (s *Server) waitAnswered(ctx context.Context) {
	select {
	case <-s.inflight.wait():
	case <-ctx.Done():
		return
	}
	for !s.sessions.sse.idle() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// serveUntilClosed runs srv on ln; closing srv is not an error.
func serveUntilClosed(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cleanups runs release functions in reverse order and joins their errors.
type cleanups []struct {
	name string
	fn   func() error
}

func (c *cleanups) add(name string, fn func() error) {
	*c = append(*c, struct {
		name string
		fn   func() error
	}{name, fn})
}

// start runs fn in a goroutine until the cleanup called name cancels fn's
// context and waits for fn to return.
func (c *cleanups) start(name string, fn func(ctx context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	c.add(name, func() error {
		stop()
		<-done
		return nil
	})
}

func (c cleanups) run() error {
	var err error
	for i := len(c) - 1; i >= 0; i-- {
		if e := c[i].fn(); e != nil && !errors.Is(e, net.ErrClosed) && !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", c[i].name, e))
		}
	}
	return err
}
