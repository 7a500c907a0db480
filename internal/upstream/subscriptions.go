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
// which original URI. The upstream is sent one resources/subscribe per
// URI, however many subscribers it has, and one resources/unsubscribe
// when the last goes; it is subscribed again on every session the
// supervisor (re)starts. The upstream requests of one URI take turns, so
// they reach the upstream in the order of the subscribers' comings and
// goings, and a subscriber is answered only once the upstream's
// subscription is in effect.
type subscriptions struct {
	mu    sync.Mutex // guards the field below and the fields of every uriSubs
	byURI map[string]*uriSubs
}

// uriSubs are the subscribers of one original URI.
type uriSubs struct {
	// turn is held (a value sent) by whoever sends the upstream a
	// subscribe or unsubscribe of the URI.
	turn chan struct{}
	subs map[*subscriber]struct{}
	// on is the session the upstream is subscribed on; nil when it is not.
	on *session
}

// subscriber is one subscription: fn is called on every update.
type subscriber struct{ fn func() }

func newSubscriptions() *subscriptions {
	return &subscriptions{byURI: map[string]*uriSubs{}}
}

// take waits for the URI's turn, or for ctx to end.
func (e *uriSubs) take(ctx context.Context) error {
	select {
	case e.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// give hands the URI's turn on.
func (e *uriSubs) give() { <-e.turn }

// subscribedLocked reports whether the upstream's subscription is in
// effect: made on a session still alive. Called with subscriptions.mu held.
func (e *uriSubs) subscribedLocked() bool {
	return e.on != nil && e.on.Context().Err() == nil
}

// add subscribes fn to updates of orig. The first subscriber of a URI
// (or the first after the upstream's subscription was lost) subscribes
// the upstream, on sess; a subscriber that comes while that is under way
// waits for it. remove (with the same unsubscribe) undoes add.
func (ss *subscriptions) add(ctx context.Context, sess *session, orig string, fn func(), unsubscribe func(*session, string)) (*subscriber, error) {
	sub := &subscriber{fn: fn}
	ss.mu.Lock()
	e := ss.byURI[orig]
	if e == nil {
		e = &uriSubs{turn: make(chan struct{}, 1), subs: map[*subscriber]struct{}{}}
		ss.byURI[orig] = e
	}
	e.subs[sub] = struct{}{}
	ss.mu.Unlock()
	if err := e.take(ctx); err != nil {
		ss.remove(orig, sub, unsubscribe) // it may have become the last
		return nil, err
	}
	defer e.give()
	ss.mu.Lock()
	done := e.subscribedLocked()
	ss.mu.Unlock()
	if done {
		return sub, nil
	}
	req := mcp.SubscribeRequest{}
	req.Params.URI = orig
	err := sess.Client().Subscribe(ctx, req)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err != nil {
		delete(e.subs, sub)
		ss.dropIfIdleLocked(orig, e)
		return nil, err
	}
	e.on = sess
	return sub, nil
}

// dropIfIdleLocked forgets e, orig's entry, when it has no subscribers
// and the upstream no subscription in effect. Called with ss.mu held.
func (ss *subscriptions) dropIfIdleLocked(orig string, e *uriSubs) {
	if len(e.subs) == 0 && !e.subscribedLocked() && ss.byURI[orig] == e {
		delete(ss.byURI, orig)
	}
}

// remove ends sub's subscription to orig; when it was the last, the
// upstream is unsubscribed with unsubscribe (on the session it was
// subscribed on), in the URI's turn.
func (ss *subscriptions) remove(orig string, sub *subscriber, unsubscribe func(*session, string)) {
	ss.mu.Lock()
	e := ss.byURI[orig]
	if e == nil {
		ss.mu.Unlock()
		return
	}
	delete(e.subs, sub)
	last := len(e.subs) == 0
	ss.mu.Unlock()
	if !last {
		return
	}
	e.turn <- struct{}{} // every holder's upstream request is bounded
	defer e.give()
	ss.mu.Lock()
	var on *session
	if len(e.subs) == 0 { // nobody came meanwhile
		on, e.on = e.on, nil
	}
	ss.mu.Unlock()
	if on != nil && on.Context().Err() == nil {
		unsubscribe(on, orig)
	}
	ss.mu.Lock()
	ss.dropIfIdleLocked(orig, e)
	ss.mu.Unlock()
}

// deliver calls every subscriber of orig.
func (ss *subscriptions) deliver(orig string) {
	ss.mu.Lock()
	var fns []func()
	if e := ss.byURI[orig]; e != nil {
		fns = make([]func(), 0, len(e.subs))
		for sub := range e.subs {
			fns = append(fns, sub.fn)
		}
	}
	ss.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// resubscribe subscribes a new session to every URI that has subscribers,
// each in its turn.
func (ss *subscriptions) resubscribe(ctx context.Context, sess *session, log *slog.Logger) {
	ss.mu.Lock()
	uris := make(map[string]*uriSubs, len(ss.byURI))
	for uri, e := range ss.byURI {
		uris[uri] = e
	}
	ss.mu.Unlock()
	for uri, e := range uris {
		if e.take(ctx) != nil {
			return
		}
		ss.mu.Lock()
		wanted := len(e.subs) > 0 && e.on != sess
		ss.mu.Unlock()
		var err error
		if wanted {
			sctx, cancel := context.WithTimeout(ctx, sess.Timeout())
			req := mcp.SubscribeRequest{}
			req.Params.URI = uri
			err = sess.Client().Subscribe(sctx, req)
			cancel()
			if err != nil {
				log.Warn("re-subscribing to an upstream resource failed", "uri", uri, "err", err)
			}
		}
		ss.mu.Lock()
		switch {
		case wanted && err == nil:
			e.on = sess
		case wanted:
			e.on = nil // the next subscriber tries again
		}
		ss.dropIfIdleLocked(uri, e)
		ss.mu.Unlock()
		e.give()
	}
}

// unsubscribe tells the upstream, on sess, that nobody wants updates of
// orig any more. Best effort, bounded.
func (s *supervisor) unsubscribe(sess *session, orig string) {
	ctx, cancel := context.WithTimeout(s.Context(), unsubscribeTimeout)
	defer cancel()
	req := mcp.UnsubscribeRequest{}
	req.Params.URI = orig
	if err := sess.Client().Unsubscribe(ctx, req); err != nil && s.Context().Err() == nil {
		s.log.Debug("upstream resources/unsubscribe failed", "uri", orig, "err", err)
	}
}
