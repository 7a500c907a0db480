package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Resources are served from the providers (bridged upstreams), not from
// mcp-go's own resource table, which has no filter and answers only URIs
// it lists. One decision, Policy.DecideResource on the URI (or URI
// template) as clients see it, serves every use:
//
//   - resources/list and resources/templates/list: mcp-go answers from its
//     (empty) table; the After hooks replace the result with the merged
//     lists of the providers, filtered by the policy, then paged
//     (listpage.go).
//   - resources/read: the BeforeReadResource hook routes every read, of
//     any URI, to one handler (readRouteURI, the only entry of mcp-go's
//     table), which decides and asks the providers. A refused URI, one no
//     provider has, and one its upstream refuses get the same error.
//   - resources/subscribe (and the 2026-07-28 subscriptions/listen): the
//     Before hooks decide and subscribe through the providers; the policy
//     is asked again, with the caller's current WhoIs, before each
//     notifications/resources/updated is delivered. resources/unsubscribe
//     needs no decision (a revoked caller may still unsubscribe): it ends
//     only a subscription recorded under exactly that URI, and only
//     decided URIs are recorded.
//   - completion/complete of a resource template: DecideResource on the
//     template (completions.go).
//
// DecideResource denies a URI that is not in canonical form (dot
// segments, "//", backslashes, encoded separators: see the acl package),
// so a URI is decided exactly as written and forwarded exactly as
// decided: what the upstream resolves is what was decided. Every URI in
// an answer is decided again before it reaches the caller
// (resulturis.go).

// readRouteURI is the one resource in mcp-go's table: every resources/read
// is routed to it, with the URI the client asked for in readURIArg.
const (
	readRouteURI = "tsmcp-internal:read"
	readURIArg   = "tsmcp.uri"
)

// errResourceNotFound is the answer to reading a resource that is refused,
// missing, or refused by its upstream: all look the same.
var errResourceNotFound = errors.New("resource not found")

// errResourceFailed is the answer when an allowed resource's upstream
// fails; details go to the audit line.
var errResourceFailed = errors.New("resource unavailable; details are in the host's log")

// maxPendingUpdates bounds the resources/updated notifications waiting for
// delivery; more are dropped with a log line.
const maxPendingUpdates = 256

// resourceHost serves the providers' resources: the subscriptions of client
// sessions and the delivery of their updates.
type resourceHost struct {
	providers []tools.ResourceProvider
	updates   chan pendingUpdate // to deliverUpdates
	changed   chan struct{}      // buffered 1: a provider's resources changed

	// The limits of subscriptions (immutable): per session, and the
	// counter of mcp.limits.subscriptions_per_identity.
	perSession  int
	perIdentity *counter

	mu   sync.Mutex // guards the field below
	subs map[server.ClientSession]map[string]*hostSub
}

// hostSub is one client session's subscription to one URI. It holds a
// unit of mcp.limits.subscriptions_per_identity for key.
type hostSub struct {
	id     *identity.Identity // the session's owner, as it subscribed
	key    string             // id.Key()
	cancel func()             // nil while the provider's subscribe is under way
}

// pendingUpdate is one notifications/resources/updated to deliver.
type pendingUpdate struct {
	session server.ClientSession
	id      *identity.Identity
	uri     string
}

// resourceProviders returns the providers that supply resources.
func (s *Server) resourceProviders() []tools.ResourceProvider {
	var rps []tools.ResourceProvider
	for _, p := range s.providers {
		if rp, ok := p.(tools.ResourceProvider); ok {
			rps = append(rps, rp)
		}
	}
	return rps
}

// resourceOptions returns the mcp-go options and registers the hooks that
// serve resources, when a provider supplies them (otherwise the resources
// methods stay unknown to clients).
func (s *Server) resourceOptions(hooks *server.Hooks) []server.ServerOption {
	rps := s.resourceProviders()
	if len(rps) == 0 {
		return nil
	}
	s.res = &resourceHost{
		providers:   rps,
		updates:     make(chan pendingUpdate, maxPendingUpdates),
		changed:     make(chan struct{}, 1),
		perSession:  s.limits.cfg.SubscriptionsPerSession,
		perIdentity: s.limits.subs,
		subs:        map[server.ClientSession]map[string]*hostSub{},
	}
	hooks.AddOnRequestInitialization(s.limitSubscriptions)
	hooks.AddAfterListResources(s.listResources)
	hooks.AddAfterListResourceTemplates(s.listResourceTemplates)
	hooks.AddBeforeReadResource(routeRead)
	hooks.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		s.subscribe(ctx, server.ClientSessionFromContext(ctx), req.Params.URI)
	})
	hooks.AddBeforeUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest) {
		s.res.unsubscribe(server.ClientSessionFromContext(ctx), req.Params.URI)
	})
	hooks.AddBeforeSubscriptionsListen(s.listen)
	hooks.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		s.res.dropSession(cs)
	})
	for _, rp := range rps {
		rp.OnResourcesChanged(s.resourcesChanged)
	}
	return []server.ServerOption{
		server.WithResourceCapabilities(true, true),
		server.WithResourceHandlerMiddleware(s.guardResource),
	}
}

// registerResources adds the read route to m's resource table.
func (s *Server) registerResources(m *server.MCPServer) {
	if s.res != nil {
		m.AddResource(mcp.NewResource(readRouteURI, "tsmcp read route"), s.readResource)
	}
}

// resourcesChanged is the providers' callback: deliverUpdates tells the
// connected clients. It never blocks.
func (s *Server) resourcesChanged() {
	select {
	case s.res.changed <- struct{}{}:
	default:
	}
}

// listResources replaces mcp-go's resources/list result with the providers'
// resources the caller may use. One audit line per list.
func (s *Server) listResources(ctx context.Context, _ any, req *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
	id, _ := identity.FromContext(ctx)
	policy := s.policy.Load()
	shown := []mcp.Resource{}
	for _, rp := range s.res.providers {
		rs, _ := rp.Resources(ctx)
		for _, r := range rs {
			if id != nil && policy.DecideResource(id, r.URI).Allow {
				shown = append(shown, r)
			}
		}
	}
	page, next, err := pageOf(shown, func(r mcp.Resource) string { return r.URI }, req.Params.Cursor, s.cfg.MCP.ListPageSize)
	if err != nil { // mcp-go refused such a cursor before: unreachable
		page, next = []mcp.Resource{}, ""
	}
	if res != nil {
		res.Resources = page
		res.NextCursor = next
	}
	s.auditFeatureList(ctx, audit.ResourcesList, audit.Resource, len(page))
}

// listResourceTemplates does for resources/templates/list what
// listResources does for resources/list, deciding on the URI templates.
func (s *Server) listResourceTemplates(ctx context.Context, _ any, req *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
	id, _ := identity.FromContext(ctx)
	policy := s.policy.Load()
	shown := []mcp.ResourceTemplate{}
	for _, rp := range s.res.providers {
		_, ts := rp.Resources(ctx)
		for _, t := range ts {
			if id != nil && policy.DecideResource(id, t.URITemplate.Raw()).Allow {
				shown = append(shown, t)
			}
		}
	}
	page, next, err := pageOf(shown, func(t mcp.ResourceTemplate) string { return t.URITemplate.Raw() }, req.Params.Cursor, s.cfg.MCP.ListPageSize)
	if err != nil { // mcp-go refused such a cursor before: unreachable
		page, next = []mcp.ResourceTemplate{}, ""
	}
	if res != nil {
		res.ResourceTemplates = page
		res.NextCursor = next
	}
	s.auditFeatureList(ctx, audit.ResourceTemplatesList, audit.Resource, len(page))
}

// auditFeatureList records the one audit event of a list (action) of kind: who
// asked and how many the policy showed.
func (s *Server) auditFeatureList(ctx context.Context, action audit.Action, kind audit.Kind, shown int) {
	id, _ := identity.FromContext(ctx)
	s.audit.Record(ctx, audit.Event{Action: action, Caller: audit.CallerOf(id), Kind: kind, Decision: audit.Filter, Shown: shown})
}

// routeRead is the BeforeReadResource hook: it routes every read to the
// one read handler, carrying the URI the client asked for. (mcp-go passes
// the request on by value after its Before hooks, so the change is seen by
// its handler lookup; TestResourceReadRoutesEveryURI keeps that true.)
// Whatever arguments the client sent are dropped.
func routeRead(_ context.Context, _ any, req *mcp.ReadResourceRequest) {
	req.Params.Arguments = map[string]any{readURIArg: req.Params.URI}
	req.Params.URI = readRouteURI
}

// guardResource wraps the read handler: it counts the read in flight (for
// the shutdown drain) and ties it to the host's lifetime, as tool calls
// are.
func (s *Server) guardResource(next server.ResourceHandlerFunc) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		done := s.inflight.begin()
		defer done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.callCtx, cancel)()
		return next(ctx, req)
	}
}

// readResource serves every resources/read: one policy decision on the URI,
// then the provider that has it, asked for that URI exactly as decided;
// then a decision on each URI its answer names (contents the caller may
// not read are withheld). Refused, missing, refused-upstream and
// all-withheld all answer errResourceNotFound; every read is one audit
// line.
func (s *Server) readResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	uri, _ := req.Params.Arguments[readURIArg].(string)
	id, _ := identity.FromContext(ctx)
	start := time.Now()
	d := s.policy.Load().DecideResource(id, uri)
	outcome, detail := audit.OK, ""
	ctx, creds := audit.WithCredentials(ctx)
	defer func() {
		s.audit.Record(ctx, audit.Event{Action: audit.ResourceRead, Caller: audit.CallerOf(id), Kind: audit.Resource, Name: uri,
			Decision: decision(d), Reason: d.Reason, Duration: time.Since(start), Outcome: outcome, Err: detail, Credentials: creds()})
	}()
	if id == nil || !d.Allow {
		outcome = audit.Refused
		return nil, errResourceNotFound
	}
	for _, rp := range s.res.providers {
		contents, err := rp.ReadResource(ctx, uri)
		switch {
		case errors.Is(err, tools.ErrNotFound):
			continue
		case err != nil:
			if answer, ok := connectAnswer(err); ok {
				outcome, detail = audit.URLRequired, err.Error()
				return nil, answer
			}
			outcome, detail = audit.Error, err.Error()
			return nil, errResourceFailed
		}
		// The contents name what the upstream resolved: decided again
		// (resulturis.go).
		allowed, _ := s.allowedContents(ctx, id, "resources/read "+uri, contents)
		if len(allowed) == 0 && len(contents) > 0 {
			outcome = audit.Withheld
			return nil, errResourceNotFound
		}
		if err := s.holdAnswer(ctx, contentsSize(allowed), audit.Event{Kind: audit.Resource, Name: uri}); err != nil {
			outcome, detail = audit.Error, answerRefused
			return nil, err
		}
		// Large texts go to the connection without mcp-go's encoding
		// (answersplice.go).
		sp, _ := ctx.Value(answerSpliceKey{}).(*answerSplice)
		return sp.stashContents(allowed), nil
	}
	outcome = audit.NotFound
	return nil, errResourceNotFound
}
