package upstream

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// The connection layer (package conn) starts children, opens remote
// sessions and keeps them alive; what is bridged over them is kept here,
// beside each connection: session is one connection with the calls in
// flight on it and what it listed, supervisor is one supervised
// connection with the resource subscriptions held on its sessions.

// Errors a call can get from a supervisor or the per-identity pool; the
// bridge turns them into generic tool errors.
const (
	errStopped    = conn.ErrStopped
	errDown       = conn.ErrDown
	errNoIdentity = conn.Error("no caller identity")
	errTooMany    = conn.Error("too many per-identity children")
)

// session is one connection (a stdio child or a remote session) with what
// is bridged over it.
type session struct {
	*conn.Session
	// routes are the calls in flight, for what the upstream sends about
	// them (see routeCalls).
	routes router
	// perIdentity is set for a per-identity child (or session): the
	// callers of its calls are one identity (see attribution.go).
	perIdentity bool
	listID      atomic.Int64 // numbers the tools/list requests
	// elicits are the URL-mode elicitations forwarded to callers, for
	// routing their completions (urlelicit.go).
	elicits urlElicits
	// roots answer the upstream's roots/list outside calls (roots.go);
	// nil: the upstream is shared and not offered roots.
	roots *rootsLane
	// tasks route the upstream's task status notifications (tasks.go).
	tasks taskRoutes

	mu    sync.Mutex        // guards the fields below
	tools []json.RawMessage // raw tool objects of the last tools/list
	// toolsMore: the last tools/list had more than Bounds.Items tools
	// (the rest were dropped).
	toolsMore bool

	features featureLists // prompts, resources, templates; see listing.go
	// modern sends this session's 2026-07-28 requests: with its
	// identity's headers and token (protocol: auto; nil otherwise).
	modern *conn.Modern
	// modernTools and modernPrompts are what the upstream lists in
	// 2026-07-28 (protocol: auto; see modern.go); nil otherwise.
	modernTools   []json.RawMessage
	modernPrompts []mcp.Prompt
}

// rawTools returns the raw tools of the last tools/list, and whether it
// had more than were kept.
func (s *session) rawTools() ([]json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tools, s.toolsMore
}

// supervisor keeps one connection alive (conn.Supervisor): the shared
// child or session, the discovery one of a per-identity upstream, or one
// caller's; beside it, the resource subscriptions held on its sessions.
type supervisor struct {
	*conn.Supervisor[*session]
	log  *slog.Logger   // carries the upstream (and caller) attributes
	subs *subscriptions // resource subscriptions held on its sessions
	// roots answer its sessions' roots/list outside calls (roots.go);
	// nil for a shared upstream, which is not offered roots.
	roots *rootsLane
	// authErr is why a caller's session of an upstream with auth was
	// stopped: the caller must connect (auth.go); nil otherwise.
	authErr authErrBox
}

// newSupervisor returns the supervisor of caller's child or session
// (caller nil: the shared or discovery one); a lister lists the tools,
// prompts and resources after each dial and on every list_changed, and
// tells firstListing after its first attempt. Run it with p.goFunc.
func (u *upstream) newSupervisor(caller *callerInfo, lister bool) *supervisor {
	log := u.log
	if caller != nil {
		log = log.With("caller", caller.key)
	}
	sup := &supervisor{log: log, subs: newSubscriptions()}
	if u.perIdentity {
		sup.roots = &rootsLane{u: u, discovery: caller == nil}
	}
	opts := u.p.opts
	cfg := conn.Config[*session]{
		Log: log,
		Dial: func(ctx context.Context) (*session, error) {
			if u.auth != nil {
				return u.dialAuth(ctx, caller, sup)
			}
			return u.dial(ctx, caller, sup)
		},
		Attach:       sup.watchFeatures,
		Restarted:    u.restarted,
		Ping:         u.remote != nil,
		PingInterval: opts.PingInterval,
		BackoffBase:  opts.BackoffBase,
		BackoffMax:   opts.BackoffMax,
		StableAfter:  opts.StableAfter,
	}
	if lister {
		cfg.Refresh = u.list
		cfg.Attempted = func() { u.firstOnce.Do(func() { close(u.firstListing) }) }
	}
	sup.Supervisor = conn.NewSupervisor(u.p.ctx, cfg)
	return sup
}
