package upstream

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// unsubscribeTimeout bounds the resources/unsubscribe sent when the last
// subscriber of a URI goes.
const unsubscribeTimeout = 5 * time.Second

// subscriptions are the resource subscriptions held on one supervisor's
// sessions (a shared child, or one caller's child): who wants updates of
// which original URI. The upstream is subscribed to a URI while anyone
// is, on every session the supervisor (re)starts.
type subscriptions struct {
	mu    sync.Mutex // guards the field below
	byURI map[string]map[*subscriber]struct{}
}

// subscriber is one subscription: fn is called on every update.
type subscriber struct{ fn func() }

func newSubscriptions() *subscriptions {
	return &subscriptions{byURI: map[string]map[*subscriber]struct{}{}}
}

// add subscribes fn to updates of orig; the first subscriber of a URI
// subscribes the upstream, on sess. remove undoes it.
func (ss *subscriptions) add(ctx context.Context, sess *session, orig string, fn func()) (*subscriber, error) {
	sub := &subscriber{fn: fn}
	ss.mu.Lock()
	set := ss.byURI[orig]
	first := len(set) == 0
	if first {
		set = map[*subscriber]struct{}{}
		ss.byURI[orig] = set
	}
	set[sub] = struct{}{}
	ss.mu.Unlock()
	if !first {
		return sub, nil
	}
	req := mcp.SubscribeRequest{}
	req.Params.URI = orig
	if err := sess.client.Subscribe(ctx, req); err != nil {
		ss.drop(orig, sub)
		return nil, err
	}
	return sub, nil
}

// drop forgets sub and reports whether it was orig's last subscriber.
func (ss *subscriptions) drop(orig string, sub *subscriber) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	set := ss.byURI[orig]
	if _, ok := set[sub]; !ok {
		return false
	}
	delete(set, sub)
	if len(set) > 0 {
		return false
	}
	delete(ss.byURI, orig)
	return true
}

// deliver calls every subscriber of orig.
func (ss *subscriptions) deliver(orig string) {
	ss.mu.Lock()
	fns := make([]func(), 0, len(ss.byURI[orig]))
	for sub := range ss.byURI[orig] {
		fns = append(fns, sub.fn)
	}
	ss.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// resubscribe subscribes a new session to every URI that has subscribers.
func (ss *subscriptions) resubscribe(ctx context.Context, sess *session, log *slog.Logger) {
	ss.mu.Lock()
	uris := make([]string, 0, len(ss.byURI))
	for uri := range ss.byURI {
		uris = append(uris, uri)
	}
	ss.mu.Unlock()
	for _, uri := range uris {
		sctx, cancel := context.WithTimeout(ctx, sess.timeout)
		req := mcp.SubscribeRequest{}
		req.Params.URI = uri
		if err := sess.client.Subscribe(sctx, req); err != nil {
			log.Warn("re-subscribing to an upstream resource failed", "uri", uri, "err", err)
		}
		cancel()
	}
}

// unsubscribe tells the supervisor's current session, if any, that nobody
// wants updates of orig any more. Best effort, bounded.
func (s *supervisor) unsubscribe(orig string) {
	ctx, cancel := context.WithTimeout(s.ctx, unsubscribeTimeout)
	defer cancel()
	s.mu.Lock()
	sess := s.cur
	s.mu.Unlock()
	if sess == nil {
		return
	}
	req := mcp.UnsubscribeRequest{}
	req.Params.URI = orig
	if err := sess.client.Unsubscribe(ctx, req); err != nil && s.ctx.Err() == nil {
		s.log.Debug("upstream resources/unsubscribe failed", "uri", orig, "err", err)
	}
}
