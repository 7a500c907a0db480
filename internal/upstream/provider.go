// Package upstream bridges configured MCP servers ("upstreams") as tsmcp
// tools named "<upstream>__<tool>".
//
// An upstream is either a stdio child (config.Upstream.Command, started
// without a shell and supervised: restarted with exponential backoff when it
// exits) or a remote server (config.Upstream.URL: Streamable HTTP, falling
// back to the legacy HTTP+SSE transport when the server refuses the
// initialize POST with a 4xx). Remote sessions that fail are re-established
// with the same backoff.
//
// New starts every upstream in the background, so the host serves its other
// tools while an upstream is down. Tools waits a bounded time for the first
// listing of each upstream and returns what is known; upstreams that come up
// later, restart, or send notifications/tools/list_changed are re-listed
// and reported through the OnToolsChanged callback.
//
// With isolation "per-identity" every caller identity gets its own child (or
// remote session), started on its first call and stopped after the
// upstream's idle timeout. The tool list of such an upstream comes from a
// separate discovery child (or session) that runs without any caller
// variables and is never used for calls.
//
// The connections themselves (children, remote sessions, the handshake,
// supervision and restarts) are package conn; this package keeps what is
// bridged over them, beside each connection (see session.go).
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// Defaults of Options fields left at zero, and fixed bounds.
const (
	// DefaultBackoffBase is the first restart delay after a child exits or
	// a remote session fails; it doubles after each failure.
	DefaultBackoffBase = 250 * time.Millisecond
	// DefaultBackoffMax caps the restart delay.
	DefaultBackoffMax = 30 * time.Second
	// DefaultStableAfter is how long a child or session must have run for
	// the restart delay to go back to DefaultBackoffBase.
	DefaultStableAfter = 30 * time.Second
	// DefaultStartWait bounds how long Tools waits for upstreams that have
	// not finished their first listing.
	DefaultStartWait = 3 * time.Second
	// DefaultInputWait is how long a caller has to answer an upstream's
	// elicitation or sampling request (config.Limits.InputWait).
	DefaultInputWait = 10 * time.Minute
	// DefaultMaxPerIdentity is how many per-identity children (or
	// sessions) one upstream may run at once; a caller beyond it gets a
	// tool error until an idle one is reaped.
	DefaultMaxPerIdentity = 32
	// DefaultMaxLineBytes caps one line (one JSON-RPC message) read from a
	// child's stdout. Longer lines are discarded, without being buffered
	// whole, and logged.
	DefaultMaxLineBytes = conn.DefaultMaxLineBytes
	// DefaultPingInterval is how often a remote session is pinged to notice
	// that the server went away while no call was made.
	DefaultPingInterval = 30 * time.Second
)

// Options tunes a Provider. The zero value is ready to use.
type Options struct {
	// Logger receives the provider's logs, children's stderr lines
	// included. Nil discards them.
	Logger *slog.Logger
	// LookupEnv resolves {{env "NAME"}} in url upstreams' headers and
	// supplies the base environment of stdio children (PATH, HOME, ...).
	// Nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)

	// BackoffBase is the first restart delay. Zero means DefaultBackoffBase.
	BackoffBase time.Duration
	// BackoffMax caps the restart delay. Zero means DefaultBackoffMax.
	BackoffMax time.Duration
	// StableAfter is the run time after which the restart delay resets.
	// Zero means DefaultStableAfter.
	StableAfter time.Duration
	// StartWait bounds how long Tools waits for first listings. Zero means
	// DefaultStartWait.
	StartWait time.Duration
	// MaxPerIdentity caps live per-identity children per upstream. Zero
	// means DefaultMaxPerIdentity.
	MaxPerIdentity int
	// PingInterval is how often remote sessions are pinged. Zero means
	// DefaultPingInterval.
	PingInterval time.Duration
	// Observer is told about restarts and child processes (for metrics).
	// Nil means nobody is told.
	Observer Observer
	// InputWait is how long a caller has to answer an upstream's
	// elicitation or sampling request (mcp.limits.input_wait); zero means
	// DefaultInputWait.
	InputWait time.Duration
	// Bounds limit what one upstream adds to the lists (bounds.go). A
	// zero field means its default from config.DefaultLimits.
	Bounds Bounds
	// IdentitiesDir is where per-identity stdio children get their own
	// directories (working directory and HOME, and the value of
	// ${identity.dir}): <IdentitiesDir>/<sha256 of the identity>/<upstream>,
	// and <IdentitiesDir>/discovery/<upstream> for discovery children,
	// each created 0700 when the child starts. Empty means a temporary
	// directory, created on first use and removed by Close.
	IdentitiesDir string
	// ReservedTools are the names of the host's other tools (built-in
	// and declared): an unprefixed upstream's tool of that name is
	// dropped with a log line (see unprefixed.go). Nil means none.
	ReservedTools []string
	// Secrets is where the ${secret:NAME} of per-identity upstreams' env
	// and headers are looked up, per caller (secrets.source). Nil means
	// none: a per-identity child or session that needs a secret is then
	// refused for every caller (the config check prevents it).
	Secrets secrets.Source
	// OAuth keeps the callers' tokens of upstreams with auth and sends
	// each caller's requests with its own (see auth.go). Nil: an
	// upstream with auth is an error at New.
	OAuth *oauth.Manager
	// State keeps which connected identity lists each upstream with auth
	// (see auth.go), so the list is back after a restart: the node's
	// state store. Nil: kept in memory only.
	State ipn.StateStore
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.StableAfter <= 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.StartWait <= 0 {
		o.StartWait = DefaultStartWait
	}
	if o.MaxPerIdentity <= 0 {
		o.MaxPerIdentity = DefaultMaxPerIdentity
	}
	if o.InputWait <= 0 {
		o.InputWait = DefaultInputWait
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	o.Bounds = o.Bounds.withDefaults()
	return o
}

// Provider bridges the configured upstreams' tools. Create it with New; the
// zero value is not usable. It implements tools.Provider, tools.Notifier and
// tools.StatusReporter.
type Provider struct {
	opts Options
	ups  []*upstream
	// wg counts every goroutine the provider starts (supervisors, reaped
	// children being stopped); Close waits for it.
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	// startWaitUntil is when Tools stops waiting for first listings:
	// Options.StartWait after New, so later calls never wait.
	startWaitUntil time.Time
	// waiting are the stateless calls waiting for their callers' input.
	waiting waitingCalls
	// rootsBusy are the callers' roots/list_changed being handled (roots.go).
	rootsBusy rootsRefreshes
	// dirs are the per-identity children's directories.
	dirs identityDirs

	feat featureNotifiers // the host's prompt and resource callbacks

	mu       sync.Mutex // guards the fields below
	onChange func()
	closed   bool
	logLevel mcp.LoggingLevel // asked of every session; "": none asked for
}

var (
	_ tools.Provider       = (*Provider)(nil)
	_ tools.Notifier       = (*Provider)(nil)
	_ tools.StatusReporter = (*Provider)(nil)
)

// New prepares one bridge per configured upstream and starts them in the
// background: shared upstreams and the discovery child (or session) of
// per-identity upstreams connect and list their tools at once. cfg is
// expected to be validated already (config.Load does); errors name the
// offending key, e.g. `upstreams[1].headers.Authorization: environment
// variable "TOKEN" is not set`. Close stops everything New started.
func New(cfg []config.Upstream, opts Options) (*Provider, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Provider{opts: opts, ctx: ctx, cancel: cancel, startWaitUntil: time.Now().Add(opts.StartWait),
		dirs: identityDirs{root: opts.IdentitiesDir}}
	var errs []error
	for i, c := range cfg {
		u, err := newUpstream(p, i, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.ups = append(p.ups, u)
	}
	if err := errors.Join(errs...); err != nil {
		cancel()
		return nil, err
	}
	for _, u := range p.ups {
		u.start()
	}
	return p, nil
}

// Name identifies the provider in logs and errors: "upstreams".
func (p *Provider) Name() string { return "upstreams" }

// Tools returns the bridged tools currently known from all upstreams. Until
// Options.StartWait after New (or until ctx ends) it waits for upstreams
// that have not finished their first attempt to start and list; those that
// list later are reported through the OnToolsChanged callback. An upstream
// that is down keeps the tools it last listed (calls to them fail until it
// is back).
func (p *Provider) Tools(ctx context.Context) ([]tools.Tool, error) {
	timer := time.NewTimer(max(time.Until(p.startWaitUntil), 0))
	defer timer.Stop()
wait:
	for _, u := range p.ups {
		select {
		case <-u.firstListing:
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	ts, _ := p.mergeTools(true)
	return ts, nil
}

// OnToolsChanged registers fn, called (from a provider goroutine, without
// the provider's locks held) after an upstream's tool list changed: first
// listing after start-up, a restart with a different list, or
// notifications/tools/list_changed. A later call replaces fn; nil removes it.
func (p *Provider) OnToolsChanged(fn func()) {
	p.mu.Lock()
	p.onChange = fn
	p.mu.Unlock()
}

func (p *Provider) notify() {
	p.mu.Lock()
	fn, closed := p.onChange, p.closed
	p.mu.Unlock()
	if fn != nil && !closed {
		fn()
	}
}

// Status reports one entry per upstream, in configuration order: whether it
// can serve calls now, when useful why not, and how many per-identity
// children (or sessions) run. It never contains secrets.
func (p *Provider) Status() []tools.Status {
	out := make([]tools.Status, 0, len(p.ups))
	for _, u := range p.ups {
		out = append(out, u.status())
	}
	return out
}

// Close stops every child and session, waits for children to exit and be
// reaped, and for every goroutine the provider started, then removes the
// temporary directory of per-identity children, if it made one (see
// Options.IdentitiesDir). Calls after Close fail with a tool error. Close
// is safe to call more than once.
func (p *Provider) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	for _, u := range p.ups {
		u.close()
	}
	p.wg.Wait()
	for _, u := range p.ups {
		u.warns.Flush() // log the counts of lines held back
		if u.remote != nil {
			// Keep-alive connections would outlive Close otherwise.
			u.remote.CloseIdle()
		}
	}
	// Every child has been reaped: nothing writes there any more.
	return p.dirs.removeTemp()
}

// goFunc runs f on a goroutine Close waits for.
func (p *Provider) goFunc(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

// keyError formats an error naming the configuration key.
func keyError(i int, key, format string, args ...any) error {
	k := fmt.Sprintf("upstreams[%d]", i)
	if key != "" {
		k += "." + key
	}
	return fmt.Errorf("%s: %s", k, fmt.Sprintf(format, args...))
}
