package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/logx"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// subscribe serves resources/subscribe for session cs: one policy decision
// on the URI, then the provider that has it. The request is answered with
// success whatever happens (refused, missing, refused by the upstream),
// so that a refused resource looks exactly like a missing one; only an
// allowed subscription that took effect ever delivers updates. It reports
// whether the subscription took effect; every subscribe is one audit line.
func (s *Server) subscribe(ctx context.Context, cs server.ClientSession, uri string) bool {
	id, _ := identity.FromContext(ctx)
	start := time.Now()
	d := s.policy.Load().DecideResource(id, uri)
	outcome, detail := "ok", ""
	defer func() {
		s.auditFeature(ctx, "resource_subscribe", id, "resource", uri, d.Allow, d.Reason, time.Since(start), outcome, detail)
	}()
	switch {
	case id == nil || !d.Allow:
		outcome = "refused"
		return false
	case cs == nil:
		outcome, detail = "error", "no client session"
		return false
	case s.res.has(cs, uri):
		return true
	}
	for _, rp := range s.res.providers {
		cancel, err := rp.SubscribeResource(ctx, uri, func() { s.res.queue(cs, id, uri, s.warns) })
		switch {
		case errors.Is(err, tools.ErrNotFound):
			continue
		case err != nil:
			outcome, detail = "error", err.Error()
			return false
		}
		if !s.res.add(cs, uri, &hostSub{id: id, cancel: cancel}) {
			cancel() // a concurrent subscribe of the same URI won
		}
		return true
	}
	outcome = "not_found"
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

// has reports whether cs is subscribed to uri.
func (h *resourceHost) has(cs server.ClientSession, uri string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.subs[cs][uri]
	return ok
}

// add records cs's subscription to uri, unless it has one already.
func (h *resourceHost) add(cs server.ClientSession, uri string, sub *hostSub) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[cs]
	if m == nil {
		m = map[string]*hostSub{}
		h.subs[cs] = m
	}
	if _, dup := m[uri]; dup {
		return false
	}
	m[uri] = sub
	return true
}

// current reports whether cs is still subscribed to uri.
func (h *resourceHost) current(cs server.ClientSession, uri string) bool { return h.has(cs, uri) }

// unsubscribe ends cs's subscription to uri, if any.
func (h *resourceHost) unsubscribe(cs server.ClientSession, uri string) {
	h.mu.Lock()
	sub := h.subs[cs][uri]
	delete(h.subs[cs], uri)
	if len(h.subs[cs]) == 0 {
		delete(h.subs, cs)
	}
	h.mu.Unlock()
	if sub != nil {
		sub.cancel()
	}
}

// dropSession ends every subscription of cs (its session or listen stream
// ended).
func (h *resourceHost) dropSession(cs server.ClientSession) {
	h.mu.Lock()
	subs := h.subs[cs]
	delete(h.subs, cs)
	h.mu.Unlock()
	for _, sub := range subs {
		sub.cancel()
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
		decision, outcome := "allow", "ok"
		if !d.Allow {
			decision, outcome = "deny", "refused"
		} else if err := notifySession(u.session, mcp.MethodNotificationResourceUpdated, map[string]any{"uri": u.uri}); err != nil {
			outcome = "error"
		}
		s.audit.LogAttrs(ctx, slog.LevelInfo, "resource_updated",
			auditCaller(id),
			slog.String("kind", "resource"),
			slog.String("uri", bounded(u.uri)),
			slog.String("decision", decision),
			slog.String("reason", d.Reason),
			slog.String("outcome", outcome),
		)
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
