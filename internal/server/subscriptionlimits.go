package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// errTooManySubscriptions is what a client sees for a resources/subscribe
// or subscriptions/listen refused by mcp.limits.subscriptions_*.
var errTooManySubscriptions = errors.New("too many resource subscriptions; unsubscribe from some first")

// subscriptionMarker is in every resources/subscribe and
// subscriptions/listen request: limitSubscriptions decodes only the
// messages that hold it.
var subscriptionMarker = []byte("subscri")

// limitSubscriptions is mcp-go's OnRequestInitialization hook, run before
// any request is handled: a resources/subscribe or subscriptions/listen
// that would take its session past mcp.limits.subscriptions_per_session
// (a listen stream is a session of its own, so that caps the URIs one
// listen names) or its identity past subscriptions_per_identity is
// answered with a JSON-RPC error, and a "limit" audit line, before
// anything is subscribed. The refusal depends only on how many
// subscriptions are held, never on the URIs, so it tells nothing of them.
// (It is a check: two requests racing past it are caught by reserve.)
func (s *Server) limitSubscriptions(ctx context.Context, _ any, message any) error {
	raw, _ := message.(json.RawMessage)
	if !bytes.Contains(raw, subscriptionMarker) {
		return nil
	}
	var m struct {
		Method mcp.MCPMethod `json:"method"`
		Params struct {
			URI           string `json:"uri"`
			Notifications struct {
				ResourceSubscriptions []string `json:"resourceSubscriptions"`
			} `json:"notifications"`
		} `json:"params"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return nil // mcp-go answers a malformed request
	}
	var uris []string
	switch m.Method {
	case mcp.MethodResourcesSubscribe:
		if m.Params.URI != "" {
			uris = []string{m.Params.URI}
		}
	case mcp.MethodSubscriptionsListen:
		uris = m.Params.Notifications.ResourceSubscriptions
	}
	if len(uris) == 0 {
		return nil
	}
	id, _ := identity.FromContext(ctx)
	ref := s.res.check(server.ClientSessionFromContext(ctx), id.Key(), uris)
	if ref == nil {
		return nil
	}
	s.auditLimit(ctx, ref, audit.Event{Method: string(m.Method), URIs: len(uris)})
	return errTooManySubscriptions
}

// perSessionRefusal is the refusal by mcp.limits.subscriptions_per_session.
var perSessionRefusal = &refusal{key: "mcp.limits.subscriptions_per_session", status: http.StatusTooManyRequests}

// check reports the refusal subscribing cs (nil: a session holding
// nothing) to uris would get now, taking nothing: URIs cs holds already
// cost nothing, the others one each.
func (h *resourceHost) check(cs server.ClientSession, key string, uris []string) *refusal {
	h.mu.Lock()
	held := h.subs[cs]
	fresh := map[string]bool{}
	for _, uri := range uris {
		if _, ok := held[uri]; !ok {
			fresh[uri] = true
		}
	}
	total := len(held) + len(fresh)
	h.mu.Unlock()
	switch {
	case len(fresh) == 0:
		return nil
	case total > h.perSession:
		return perSessionRefusal
	}
	return h.perIdentity.check(key, int64(len(fresh)))
}

// reserve records cs's subscription to uri, under way, taking its place
// in the limits. held reports that cs holds (or is taking) it already;
// ref, that a limit refuses it. Otherwise the caller must activate or
// unreserve sub.
func (h *resourceHost) reserve(cs server.ClientSession, id *identity.Identity, uri string) (sub *hostSub, held bool, ref *refusal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[cs]
	if _, ok := m[uri]; ok {
		return nil, true, nil
	}
	if len(m) >= h.perSession {
		return nil, false, perSessionRefusal
	}
	key := id.Key()
	if ref := h.perIdentity.acquire(key, 1); ref != nil {
		return nil, false, ref
	}
	if m == nil {
		m = map[string]*hostSub{}
		h.subs[cs] = m
	}
	sub = &hostSub{id: id, key: key}
	m[uri] = sub
	return sub, false, nil
}

// activate completes sub, reserved for cs and uri, with the provider's
// cancel; if cs dropped it meanwhile (unsubscribed, or its session
// ended), the provider's subscription is cancelled at once.
func (h *resourceHost) activate(cs server.ClientSession, uri string, sub *hostSub, cancel func()) {
	h.mu.Lock()
	current := h.subs[cs][uri] == sub
	if current {
		sub.cancel = cancel
	}
	h.mu.Unlock()
	if !current {
		cancel()
	}
}

// unreserve gives back sub, reserved for cs and uri, that took no effect.
func (h *resourceHost) unreserve(cs server.ClientSession, uri string, sub *hostSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[cs][uri] == sub {
		h.forgetLocked(cs, uri, sub)
	}
}

// forgetLocked removes sub, cs's subscription to uri, and gives back its
// place. Called with h.mu held.
func (h *resourceHost) forgetLocked(cs server.ClientSession, uri string, sub *hostSub) {
	delete(h.subs[cs], uri)
	if len(h.subs[cs]) == 0 {
		delete(h.subs, cs)
	}
	h.perIdentity.release(sub.key, 1)
}
