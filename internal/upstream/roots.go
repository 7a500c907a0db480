package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// Roots (roots/list): the directories a caller's client offers servers.
// tsmcp declares the roots capability (with listChanged) to per-identity
// upstreams only, each child (or session) serving one identity. A shared
// child serves many callers at once, whose roots cannot be merged into one
// list (whose would a file:// URI be?), so it is not offered roots: its
// roots/list gets "method not found". (A per-identity upstream's discovery
// child is offered roots too, so that it lists what callers' children
// offer, but it serves no caller: its roots/list is refused.)
//
// A per-identity child's roots/list goes
//   - during a call, to the caller session it is exactly attributed to
//     (attribution.go); that session's answer, bounded (boundRoots), is the
//     answer, and is remembered as the identity's roots (rootsLane); a
//     caller whose client did not declare roots gets the upstream an error;
//   - outside any call (a server asks after initialize, and again after
//     list_changed), to no session: the answer is the roots the identity's
//     sessions last reported to this child, kept only beside this child
//     (so within the identity, and no longer than the child lives); none
//     reported yet, the request is refused.
//
// A caller's notifications/roots/list_changed (RootsChanged) makes tsmcp
// ask that session for its roots, remember them beside each of the
// identity's live children, and then send those children (only those)
// notifications/roots/list_changed.

const (
	// rootsWait bounds asking a caller for its roots after its
	// list_changed (clients answer roots/list by themselves).
	rootsWait = 30 * time.Second
	// rootsRefusedMsg is logged when a roots/list of an upstream is not
	// answered.
	rootsRefusedMsg = "upstream roots/list refused"
)

// rootsLane is what one per-identity child's (or the discovery child's)
// roots/list is answered with outside calls.
type rootsLane struct {
	u *upstream
	// discovery is set for the discovery child, which serves no caller.
	discovery bool

	mu    sync.Mutex // guards the fields below
	roots []mcp.Root // bounded
	known bool       // roots were reported (and the last report did not fail)
}

// set remembers the roots an identity's session reported (bounded).
func (l *rootsLane) set(roots []mcp.Root) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roots, l.known = roots, true
}

// forget drops the roots: the caller said they changed but could not be
// asked for the new ones.
func (l *rootsLane) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roots, l.known = nil, false
}

func (l *rootsLane) get() ([]mcp.Root, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roots, l.known
}

// boundRoots keeps the first Bounds.Items roots, drops those whose URI is
// over Bounds.URIBytes or whose JSON is over Bounds.ItemBytes, and cuts
// names to Bounds.TitleBytes; what it drops is logged.
func (u *upstream) boundRoots(in []mcp.Root) []mcp.Root {
	bd := u.bounder("root")
	more := len(in) > bd.b.Items
	if more {
		in = in[:bd.b.Items]
	}
	defer bd.done(more)
	out := make([]mcp.Root, 0, len(in))
	for _, r := range in {
		if !bd.uriOK(r.URI) {
			continue
		}
		r.Name = bd.title(r.Name)
		if !bd.sizeOK(r, r.URI) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// answerRoots answers an upstream's roots/list (see above).
func (s *session) answerRoots(ctx context.Context, req transport.JSONRPCRequest, log *slog.Logger, refusals *conn.LogLimiter) (*transport.JSONRPCResponse, error) {
	lane := s.roots
	refuse := func(why string) (*transport.JSONRPCResponse, error) {
		if refusals.Allow(0) {
			log.Warn(rootsRefusedMsg, "why", why)
		}
		return transport.NewJSONRPCErrorResponse(req.ID, mcp.INVALID_REQUEST, errNotForwarded.Error(), nil), nil
	}
	switch {
	case lane == nil:
		return transport.NewJSONRPCErrorResponse(req.ID, mcp.METHOD_NOT_FOUND, "method not found", nil), nil
	case lane.discovery:
		return refuse("the discovery child serves no caller")
	}
	var roots []mcp.Root
	if f := s.requestFlight(ctx); f != nil {
		res, err := f.forward(ctx, req)
		if err != nil {
			log.Warn("upstream request not forwarded", "err", err)
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, errNotForwarded.Error(), nil), nil
		}
		lr, ok := res.(*mcp.ListRootsResult)
		if !ok || lr == nil {
			log.Warn("upstream request not forwarded", "err", "the caller's answer is not a roots list")
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, errNotForwarded.Error(), nil), nil
		}
		roots = lane.u.boundRoots(lr.Roots)
		lane.set(roots)
	} else {
		var known bool
		if roots, known = lane.get(); !known {
			return refuse("outside a call, and the identity's sessions reported no roots to this child yet")
		}
	}
	if roots == nil {
		roots = []mcp.Root{}
	}
	b, err := json.Marshal(mcp.ListRootsResult{Roots: roots})
	if err != nil {
		return nil, err
	}
	return transport.NewJSONRPCResultResponse(req.ID, b), nil
}

// listRoots asks the caller of ctx (a handler context: mcp-go's server and
// the caller's session) for its roots; caps are the caller's declared
// capabilities, nil when unknown.
func listRoots(ctx context.Context, caps *mcp.ClientCapabilities) (*mcp.ListRootsResult, error) {
	if caps != nil && caps.Roots == nil {
		return nil, errors.New("the caller did not declare roots")
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil, errors.New("the caller has no session")
	}
	return srv.RequestRoots(ctx, mcp.ListRootsRequest{Request: mcp.Request{Method: string(mcp.MethodListRoots)}})
}

// listRootsOf asks the caller of the call context fctx for its roots,
// for at most rootsWait. The wait does not end with the call: servers ask
// for roots on their own (after list_changed), so the call a roots/list is
// attributed to (the identity's lane) may end first, and mcp-go's server
// answers 400 to an answer it stopped waiting for, on which the official
// go-sdk client closes its session. It ends early when stop ends (the
// upstream's request, or the provider).
func listRootsOf(fctx, stop context.Context, caps *mcp.ClientCapabilities) (*mcp.ListRootsResult, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(fctx), rootsWait)
	defer cancel()
	defer context.AfterFunc(stop, cancel)()
	return listRoots(ctx, caps)
}

// callerCaps returns the capabilities the caller of ctx declared; nil
// when its session does not say.
func callerCaps(ctx context.Context) *mcp.ClientCapabilities {
	if ci, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		c := ci.GetClientCapabilities()
		return &c
	}
	return nil
}

// rootsRefreshes are the RootsChanged in progress, one per identity: a
// list_changed that comes meanwhile is folded into it.
type rootsRefreshes struct {
	mu      sync.Mutex // guards the field below
	pending map[string]*rootsRefresh
}

// rootsRefresh is one identity's refresh in progress.
type rootsRefresh struct {
	next context.Context // the session to ask again once done; nil: none
}

// RootsChanged takes a caller's notifications/roots/list_changed; ctx is
// the notification's handler context (the caller's identity, mcp-go's
// server and session). The caller is asked for its roots in the
// background, and each per-identity child of the caller's identity that
// runs now remembers them and is sent notifications/roots/list_changed.
// Other identities' children hear nothing. It never blocks.
func (p *Provider) RootsChanged(ctx context.Context) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return
	}
	key := callerKey(id)
	// The notification's context ends when its handler returns.
	ctx = context.WithoutCancel(ctx)
	r := &p.rootsBusy
	r.mu.Lock()
	defer r.mu.Unlock()
	if rf := r.pending[key]; rf != nil {
		rf.next = ctx
		return
	}
	// Under p.mu with p.closed false: Close has not reached its Wait yet.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if r.pending == nil {
		r.pending = map[string]*rootsRefresh{}
	}
	rf := &rootsRefresh{}
	r.pending[key] = rf
	p.goFunc(func() {
		for {
			p.refreshRoots(ctx, key)
			r.mu.Lock()
			ctx, rf.next = rf.next, nil
			if ctx == nil {
				delete(r.pending, key)
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
		}
	})
}

// refreshRoots asks the caller of ctx for its roots and hands them to the
// live children of identity key.
func (p *Provider) refreshRoots(ctx context.Context, key string) {
	type lane struct {
		u   *upstream
		sup *supervisor
	}
	var lanes []lane
	for _, u := range p.ups {
		if !u.perIdentity {
			continue
		}
		u.mu.Lock()
		if ch := u.children[key]; ch != nil {
			lanes = append(lanes, lane{u, ch.sup})
		}
		u.mu.Unlock()
	}
	if len(lanes) == 0 {
		return
	}
	res, err := listRootsOf(ctx, p.ctx, callerCaps(ctx))
	for _, l := range lanes {
		if err != nil {
			l.sup.log.Warn("caller's roots not fetched after its roots/list_changed", "err", err)
			l.sup.roots.forget()
		} else {
			l.sup.roots.set(l.u.boundRoots(res.Roots))
		}
		s := l.sup.Live()
		if s == nil {
			continue
		}
		nctx, ncancel := context.WithTimeout(p.ctx, l.u.setupTimeout)
		if err := s.Client().RootListChanges(nctx); err != nil && s.Context().Err() == nil {
			l.sup.log.Warn("roots/list_changed not sent upstream", "err", err)
		}
		ncancel()
	}
}
