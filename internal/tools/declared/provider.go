// Package declared provides tsmcp's declarative tools, configured in the
// tools section: exec tools, which run a fixed command without a shell,
// and http tools, which call a fixed HTTP endpoint.
//
// Callers supply only argument values. Every argument is validated
// against its param before anything runs (type, required, enum, pattern,
// no NUL, no leading '-' unless allowed) and then inserted by
// text/template into the places the config allows: one argv element
// each, URL path segments and query values (escaped), header values and
// a JSON body (as JSON values). The program, working directory,
// environment, URL scheme and host are fixed by the config. Failures are
// tool errors (CallToolResult.IsError) with safe messages; details go to
// the log, which never records argument values or secrets.
package declared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Options configures a Provider. The zero value is ready to use: no
// logging, the process environment, the system resolver.
type Options struct {
	// Logger receives one line per failed run (tool name, reason; never
	// argument values or secrets). Nil discards.
	Logger *slog.Logger
	// LookupEnv is the source of {{env "NAME"}} and of the base
	// environment of exec tools (PATH, HOME, LANG, TZ). Nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// LookupIP resolves the host names of http tools (each address is
	// then checked against the SSRF guard). Nil means
	// net.DefaultResolver.LookupNetIP(ctx, "ip", host).
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// Secrets is where the ${secret:NAME} of http tools' headers are
	// looked up, for the caller, at each call (secrets.source). Nil means
	// none: a call of a tool that needs a secret is then refused.
	Secrets secrets.Source
}

// Provider is the tools.Provider of the declarative tools. The zero
// value is not usable: use New.
type Provider struct {
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	secrets   secrets.Source
	tools     []tools.Tool
	// transports are the http tools' transports, one per tool (each
	// with its own guard); Close closes their idle connections.
	transports []*http.Transport

	stop    context.Context // done once Close begins
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

var _ tools.Provider = (*Provider)(nil)

// New builds the provider from the validated config tools. Errors name
// the tool's key (tools[i].…). New starts nothing: commands run and
// requests are made only when a tool is called.
func New(cfg []config.Tool, opts Options) (*Provider, error) {
	p := &Provider{
		log:       opts.Logger,
		lookupEnv: opts.LookupEnv,
		secrets:   opts.Secrets,
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.lookupEnv == nil {
		p.lookupEnv = os.LookupEnv
	}
	lookupIP := opts.LookupIP
	if lookupIP == nil {
		lookupIP = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	p.stop, p.cancel = context.WithCancel(context.Background())
	seen := map[string]string{}
	for i, t := range cfg {
		key := fmt.Sprintf("tools[%d]", i)
		if prev, dup := seen[t.Name]; dup {
			return nil, fmt.Errorf("%s.name: %q is already used by %s", key, t.Name, prev)
		}
		seen[t.Name] = key
		var (
			tool tools.Tool
			err  error
		)
		switch {
		case t.Exec != nil && t.HTTP == nil:
			tool, err = p.newExecTool(key, t)
		case t.HTTP != nil && t.Exec == nil:
			var tr *http.Transport
			tool, tr, err = p.newHTTPTool(key, t, lookupIP)
			p.transports = append(p.transports, tr)
		default:
			err = fmt.Errorf("%s: needs exactly one of exec or http", key)
		}
		if err != nil {
			p.cancel()
			return nil, err
		}
		p.tools = append(p.tools, tool)
	}
	return p, nil
}

// Name implements tools.Provider: "tools", the config section.
func (p *Provider) Name() string { return "tools" }

// Tools implements tools.Provider: one tool per configured tool, in
// config order.
func (p *Provider) Tools(context.Context) ([]tools.Tool, error) {
	return append([]tools.Tool(nil), p.tools...), nil
}

// Close kills every running command's process group, cancels in-flight
// HTTP requests, waits for those calls to return and closes idle
// connections. Calls after Close get a tool error. It is safe to call
// more than once.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.running.Wait()
	for _, tr := range p.transports {
		tr.CloseIdleConnections()
	}
	return nil
}

// Why a run's context ended, beyond the caller's own cancellation.
var (
	errTimeout  = errors.New("timed out")
	errShutdown = errors.New("shutting down")
)

// begin registers one run. Its context ends at the timeout, at Close or
// when the call's ctx ends, with context.Cause saying which; end must be
// called when the run is over. ok is false after Close.
func (p *Provider) begin(ctx context.Context, timeout time.Duration) (run context.Context, end func(), ok bool) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, false
	}
	p.running.Add(1)
	p.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	stopAfter := context.AfterFunc(p.stop, func() { cancel(errShutdown) })
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, errTimeout)
	return ctx, func() {
		cancelTimeout()
		stopAfter()
		cancel(nil)
		p.running.Done()
	}, true
}

// ended is the failure of a run whose context ended: it says why (timeout,
// shutdown or the caller's cancellation) to the log and to the caller;
// what is "command" or "request".
func (p *Provider) ended(ctx context.Context, tool string, timeout time.Duration, what string) *mcp.CallToolResult {
	switch context.Cause(ctx) {
	case errTimeout:
		return p.failed(ctx, tool, "timeout", fmt.Sprintf("the %s timed out after %s", what, timeout))
	case errShutdown:
		return p.failed(ctx, tool, "shutdown", fmt.Sprintf("the %s was stopped: tsmcp is shutting down", what))
	}
	return p.failed(ctx, tool, "cancelled", fmt.Sprintf("the %s was cancelled", what))
}

// failed logs a failed run and returns the tool error for the caller.
// attrs must not carry argument values or secrets.
func (p *Provider) failed(ctx context.Context, tool, reason, msg string, attrs ...any) *mcp.CallToolResult {
	p.log.WarnContext(ctx, "tool run failed", append([]any{"tool", tool, "reason", reason}, attrs...)...)
	return mcp.NewToolResultError(msg)
}

// invalid reports an argument problem to the caller. It is logged at
// debug level only: the host audits every call, and the caller, not the
// tool, is at fault.
// values returns the call's validated argument values, or the result that
// refuses the call.
func (p *Provider) values(ctx context.Context, tool string, params map[string]*param, req mcp.CallToolRequest) (map[string]value, *mcp.CallToolResult) {
	args, err := arguments(req)
	if err == nil {
		var vals map[string]value
		if vals, err = validate(params, args); err == nil {
			return vals, nil
		}
	}
	return nil, p.invalid(ctx, tool, err)
}

func (p *Provider) invalid(ctx context.Context, tool string, err error) *mcp.CallToolResult {
	p.log.LogAttrs(ctx, slog.LevelDebug, "tool arguments refused", slog.String("tool", tool), slog.String("error", err.Error()))
	var ae *argError
	if errors.As(err, &ae) {
		return mcp.NewToolResultError(ae.Error())
	}
	return mcp.NewToolResultError("invalid arguments")
}

// refusedClosed is the result of a call after Close.
func refusedClosed() *mcp.CallToolResult {
	return mcp.NewToolResultError("tsmcp is shutting down")
}

// annotations returns the tool's hints: an http GET or HEAD only reads,
// PUT and DELETE are idempotent; anything else may change the world.
// Both kinds reach beyond tsmcp (openWorld).
// withConfigured returns def with the annotations the config sets (a, nil
// for none) applied over the defaults it has; a title goes to both the
// tool's title and its annotations.
func withConfigured(def mcp.Tool, a *config.ToolAnnotations) mcp.Tool {
	if a == nil {
		return def
	}
	if a.Title != "" {
		def.Title = a.Title
		def.Annotations.Title = a.Title
	}
	if a.ReadOnly != nil {
		def.Annotations.ReadOnlyHint = mcp.ToBoolPtr(*a.ReadOnly)
		def.Annotations.DestructiveHint = mcp.ToBoolPtr(!*a.ReadOnly)
	}
	if a.Destructive != nil {
		def.Annotations.DestructiveHint = mcp.ToBoolPtr(*a.Destructive)
	}
	if a.Idempotent != nil {
		def.Annotations.IdempotentHint = mcp.ToBoolPtr(*a.Idempotent)
	}
	if a.OpenWorld != nil {
		def.Annotations.OpenWorldHint = mcp.ToBoolPtr(*a.OpenWorld)
	}
	return def
}

// annotations returns the default annotations of a declarative tool.
func annotations(readOnly, idempotent bool) mcp.ToolAnnotation {
	return mcp.ToolAnnotation{
		ReadOnlyHint:    mcp.ToBoolPtr(readOnly),
		DestructiveHint: mcp.ToBoolPtr(!readOnly),
		IdempotentHint:  mcp.ToBoolPtr(idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	}
}
