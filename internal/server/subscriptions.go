package server

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// subscribe serves resources/subscribe for session cs: one policy decision
// on the URI, then the provider that has it. The request is answered with
// success whatever happens (refused, missing, refused by the upstream),
// so that a refused resource looks exactly like a missing one; only an
// allowed subscription that took effect ever delivers updates. (Past
// mcp.limits.subscriptions_* the request was answered with an error
// before: see limitSubscriptions; one that raced past that check takes no
// effect here.) It reports whether the subscription took effect; every
// subscribe is one audit line.
func (s *Server) subscribe(ctx context.Context, cs server.ClientSession, uri string) bool {
	id, _ := identity.FromContext(ctx)
	start := time.Now()
	d := s.policy.Load().DecideResource(id, uri)
	outcome, detail := audit.OK, ""
	defer func() {
		s.audit.Record(ctx, audit.Event{Action: audit.ResourceSubscribe, Caller: audit.CallerOf(id), Kind: audit.Resource, Name: uri,
			Decision: decision(d), Reason: d.Reason, Duration: time.Since(start), Outcome: outcome, Err: detail})
	}()
	switch {
	case id == nil || !d.Allow:
		outcome = audit.Refused
		return false
	case cs == nil:
		outcome, detail = audit.Error, "no client session"
		return false
	}
	sub, held, ref := s.res.reserve(cs, id, uri)
	switch {
	case held:
		return true
	case ref != nil:
		outcome, detail = audit.LimitReached, ref.key
		s.auditLimit(ctx, ref, audit.Event{Kind: audit.Resource, Name: uri})
		return false
	}
	for _, rp := range s.res.providers {
		cancel, err := rp.SubscribeResource(ctx, uri, func() { s.res.queue(cs, id, uri, s.warns) })
		switch {
		case errors.Is(err, tools.ErrNotFound):
			continue
		case err != nil:
			s.res.unreserve(cs, uri, sub)
			outcome, detail = audit.Error, err.Error()
			return false
		}
		s.res.activate(cs, uri, sub, cancel)
		return true
	}
	s.res.unreserve(cs, uri, sub)
	outcome = audit.NotFound
	return false
}

// listen serves the resource subscriptions of a 2026-07-28
// subscriptions/listen request: each URI is subscribed as by
// resources/subscribe, for as long as the request's stream is open.
func (s *Server) listen(ctx context.Context, _ any, req *mcp.SubscriptionsListenRequest) {
	uris := req.Params.Notifications.ResourceSubscriptions
	cs := server.ClientSessionFromContext(ctx)
	if len(uris) == 0 || cs == nil {
		return
	}
	for _, uri := range uris {
		s.subscribe(ctx, cs, uri)
	}
	context.AfterFunc(ctx, func() { s.res.dropSession(cs) })
}

// current reports whether cs is still subscribed to uri.
func (h *resourceHost) current(cs server.ClientSession, uri string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.subs[cs][uri]
	return ok
}

// unsubscribe ends cs's subscription to uri, if any.
func (h *resourceHost) unsubscribe(cs server.ClientSession, uri string) {
	var cancel func()
	h.mu.Lock()
	if sub := h.subs[cs][uri]; sub != nil {
		cancel = sub.cancel // nil while under way: activate cancels it
		h.forgetLocked(cs, uri, sub)
	}
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// dropSession ends every subscription of cs (its session or listen stream
// ended).
func (h *resourceHost) dropSession(cs server.ClientSession) {
	var cancels []func()
	h.mu.Lock()
	for uri, sub := range h.subs[cs] {
		if sub.cancel != nil { // nil while under way: activate cancels it
			cancels = append(cancels, sub.cancel)
		}
		h.forgetLocked(cs, uri, sub)
	}
	h.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
}

// queue hands an update to the delivery goroutine; it never blocks (it
// runs on an upstream's notification path). A dropped update is logged
// through warns: an upstream can send them faster than any log is read.
func (h *resourceHost) queue(cs server.ClientSession, id *identity.Identity, uri string, warns *logx.Repeats) {
	select {
	case h.updates <- pendingUpdate{session: cs, id: id, uri: uri}:
	default:
		warns.Warn("resource update dropped: delivery queue full", "uri", bounded(uri))
	}
}

// deliverUpdates sends notifications/resources/list_changed to every
// client when a provider's resources changed, and delivers queued
// resources/updated notifications, until ctx ends: each only while the session is still subscribed and the policy
// still allows the URI to the session's owner as the tailnet sees it now
// (a fresh WhoIs: a revoked grant stops updates too).
func (s *Server) deliverUpdates(ctx context.Context, m *server.MCPServer) {
	for {
		var u pendingUpdate
		select {
		case <-ctx.Done():
			return
		case <-s.res.changed:
			m.SendNotificationToAllClients(mcp.MethodNotificationResourcesListChanged, nil)
			continue
		case u = <-s.res.updates:
		}
		if !s.res.current(u.session, u.uri) {
			continue
		}
		id, err := s.reidentify(ctx, u.id)
		var d acl.Decision
		if err == nil {
			d = s.policy.Load().DecideResource(id, u.uri)
		} else {
			id, d.Reason = u.id, "caller no longer identified: "+err.Error()
		}
		outcome := audit.OK
		if !d.Allow {
			outcome = audit.Refused
		} else if err := notifySession(u.session, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": u.uri}); err != nil {
			outcome = audit.Error
		}
		s.audit.Record(ctx, audit.Event{Action: audit.ResourceUpdated, Caller: audit.CallerOf(id), Kind: audit.Resource, Name: u.uri,
			Decision: decision(d), Reason: d.Reason, Outcome: outcome})
	}
}

// reidentify asks the tailnet again who the node of id is now; the answer
// must still be the same caller (node, user, tags).
func (s *Server) reidentify(ctx context.Context, id *identity.Identity) (*identity.Identity, error) {
	s.mu.Lock()
	whois, suffix := s.whoisFn, s.tailnetSuffix
	s.mu.Unlock()
	if whois == nil || id == nil {
		return nil, errors.New("no WhoIs available")
	}
	ip := id.TailnetIP
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w, err := whois(ctx, ip.String()) // the bare IP, as Server.whois asks
	if err != nil {
		return nil, err
	}
	fresh, err := identity.FromWhoIs(w, ip, suffix)
	if err != nil {
		return nil, err
	}
	if !fresh.Equal(id) {
		return nil, errors.New("the node is now " + fresh.String())
	}
	return fresh, nil
}

// errNotificationDropped means a session's notification queue was full.
var errNotificationDropped = errors.New("notification queue full")

// notifySession sends one notification to cs (a registered session, or the
// ephemeral session of a 2026-07-28 subscriptions/listen stream, which
// mcp-go's by-ID lookup does not know), without blocking.
func notifySession(cs server.ClientSession, method string, params map[string]any) error {
	if up, ok := cs.(server.SessionWithStreamableHTTPConfig); ok {
		up.UpgradeToSSEWhenReceiveNotification()
	}
	n := mcp.JSONRPCNotification{
		JSONRPC:      mcp.JSONRPC_VERSION,
		Notification: mcp.Notification{Method: method, Params: mcp.NotificationParams{AdditionalFields: params}},
	}
	select {
	case cs.NotificationChannel() <- n:
		return nil
	default:
		return errNotificationDropped
	}
}
