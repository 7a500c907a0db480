package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/safetext"
)

// maxRestartWait is how long a call waits for a child (or session) that is
// in backoff: if the next attempt is further away than this, the call fails
// at once instead of sitting out the delay.
const maxRestartWait = time.Second

// bridgeError is an error of the bridge itself; constants of this type
// work with errors.Is.
type bridgeError string

func (e bridgeError) Error() string { return string(e) }

// Errors a call can get from a supervisor or the per-identity pool; the
// bridge turns them into generic tool errors.
const (
	errStopped    bridgeError = "upstream stopped"
	errDown       bridgeError = "upstream down"
	errNoIdentity bridgeError = "no caller identity"
	errTooMany    bridgeError = "too many per-identity children"
)

type supState int

const (
	stateStarting supState = iota // dialing, first time or after backoff
	stateUp                       // a session serves calls
	stateBackoff                  // waiting before the next attempt
	stateStopped                  // ctx ended; no more sessions
)

// supervisor keeps one session (a stdio child or a remote session) alive:
// it dials, serves until the session dies, then dials again after an
// exponential backoff. Listing supervisors also list the tools after each
// dial and on notifications/tools/list_changed.
type supervisor struct {
	log     *slog.Logger // carries the upstream (and caller) attributes
	dial    func(ctx context.Context, onListChanged func()) (*session, error)
	onTools func(s *session) // nil: do not list (per-identity children)
	opts    Options
	ping    bool // ping the session every opts.PingInterval (remote sessions)
	// attempted, when set, is called after every dial attempt, once the
	// upstream is up (and listed) or down.
	attempted func()
	// restarted, when set, is called before every dial after the first
	// (a restart: Options.Observer counts them).
	restarted func()
	// now is time.Now; tests replace it (before run) to read the restart
	// delays off nextTry.
	now func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	relist chan struct{}  // buffered 1: a list_changed arrived
	subs   *subscriptions // resource subscriptions held on its sessions

	mu      sync.Mutex // guards the fields below
	state   supState
	cur     *session
	lastErr string        // why the last session ended or the last dial failed
	nextTry time.Time     // when state is stateBackoff
	tries   int           // dial attempts started
	everUp  bool          // a session has served (been up) at least once
	changed chan struct{} // closed and replaced on every state change
}

func newSupervisor(parent context.Context, log *slog.Logger, opts Options,
	dial func(context.Context, func()) (*session, error), onTools func(*session), ping bool) *supervisor {
	ctx, cancel := context.WithCancel(parent)
	return &supervisor{
		log:     log,
		dial:    dial,
		onTools: onTools,
		opts:    opts,
		ping:    ping,
		now:     time.Now,
		ctx:     ctx,
		cancel:  cancel,
		relist:  make(chan struct{}, 1),
		subs:    newSubscriptions(),
		changed: make(chan struct{}),
	}
}

// setState records a state change and wakes waiters. Callers hold s.mu.
func (s *supervisor) setStateLocked(st supState) {
	s.state = st
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *supervisor) stop() { s.cancel() }

// run is the supervision loop; it returns when s.ctx ends, after closing
// the current session (and so reaping its child).
func (s *supervisor) run() {
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.setStateLocked(stateStopped)
		s.mu.Unlock()
	}()
	delay := s.opts.BackoffBase
	for {
		started := s.now()
		s.mu.Lock()
		s.tries++
		restart := s.tries > 1
		s.mu.Unlock()
		if restart && s.restarted != nil {
			s.restarted()
		}
		sess, err := s.dial(s.ctx, s.listChanged)
		if s.ctx.Err() != nil {
			if sess != nil {
				sess.close()
			}
			return
		}
		if err == nil {
			err = s.serve(sess)
			if s.ctx.Err() != nil {
				return
			}
			if s.now().Sub(started) >= s.opts.StableAfter {
				delay = s.opts.BackoffBase
			}
		}
		reason := err.Error()
		s.mu.Lock()
		s.cur = nil
		s.lastErr = reason
		s.nextTry = s.now().Add(delay)
		s.setStateLocked(stateBackoff)
		s.mu.Unlock()
		s.log.Warn("upstream down", "reason", safetext.Log(reason, maxLoggedErr), "retry_in", delay.String())
		if s.attempted != nil {
			s.attempted()
		}

		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		delay = min(delay*2, s.opts.BackoffMax)
		s.mu.Lock()
		s.setStateLocked(stateStarting)
		s.mu.Unlock()
	}
}

// serve publishes sess, keeps its tool list current, and returns why the
// session ended. The session is closed (its child reaped) on return.
func (s *supervisor) serve(sess *session) error {
	defer sess.close()
	s.watchFeatures(sess)
	if s.onTools != nil {
		// Drop list_changed notifications that arrived during the dial:
		// the listing below covers them.
		select {
		case <-s.relist:
		default:
		}
		if err := s.list(sess); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.cur = sess
	s.lastErr = ""
	s.everUp = true
	s.setStateLocked(stateUp)
	s.mu.Unlock()
	s.log.Info("upstream up", "transport", sess.kind)
	if s.attempted != nil {
		s.attempted()
	}

	var pingC <-chan time.Time
	if s.ping {
		t := time.NewTicker(s.opts.PingInterval)
		defer t.Stop()
		pingC = t.C
	}
	for {
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-sess.ctx.Done():
			return errors.New(sess.reason())
		case <-s.relist:
			if s.onTools == nil {
				continue
			}
			if err := s.list(sess); err != nil {
				sess.fail(err.Error())
			}
		case <-pingC:
			ctx, cancel := context.WithTimeout(s.ctx, s.opts.PingInterval)
			//lint:ignore SA1019 the client is pinned to 2025-11-25, where ping is a real RPC
			err := sess.client.Ping(ctx)
			cancel()
			if err != nil && s.ctx.Err() == nil {
				sess.fail(fmt.Sprintf("ping failed: %v", err))
			}
		}
	}
}

func (s *supervisor) list(sess *session) error {
	ctx, cancel := context.WithTimeout(s.ctx, sess.timeout)
	defer cancel()
	if err := sess.listTools(ctx, s.opts.Bounds.Items); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	s.listFeatures(ctx, sess)
	s.onTools(sess)
	return nil
}

// listChanged is the session's notifications/tools/list_changed hook.
func (s *supervisor) listChanged() {
	select {
	case s.relist <- struct{}{}:
	default:
	}
}

// session waits for a live session: while the supervisor is starting, or
// in backoff with the next attempt at most maxRestartWait away; it waits
// for one attempt at most. It fails with errDown (wrapping the last
// failure) when the upstream stays down, errStopped after stop, or ctx's
// error.
func (s *supervisor) session(ctx context.Context) (*session, error) {
	// The attempts that count: the one in progress, and later ones.
	s.mu.Lock()
	tries := s.tries
	if s.state == stateStarting {
		tries--
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		st, cur, ch := s.state, s.cur, s.changed
		wait := s.nextTry.Sub(s.now())
		last := s.lastErr
		failedSince := s.tries > tries
		s.mu.Unlock()
		switch {
		case st == stateStopped:
			return nil, errStopped
		case st == stateBackoff && failedSince:
			return nil, fmt.Errorf("%w: %s", errDown, last)
		case st == stateUp && cur != nil:
			select {
			case <-cur.ctx.Done():
				// Dead, and the run loop has not noticed yet: wait
				// for the change (the restart, or the backoff).
			default:
				return cur, nil
			}
		case st == stateBackoff && wait > maxRestartWait:
			return nil, fmt.Errorf("%w: %s", errDown, last)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// history reports whether a session has ever been up, and whether the
// first attempt to bring one up is still in progress.
func (s *supervisor) history() (everUp, firstAttempt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.everUp, !s.everUp && s.lastErr == "" && s.state == stateStarting
}

// describe returns whether the supervisor serves calls now and a detail for
// Status.
func (s *supervisor) describe() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateUp:
		return true, ""
	case stateStarting:
		if s.lastErr != "" {
			return false, "restarting after " + s.lastErr
		}
		return false, "starting"
	case stateBackoff:
		in := max(s.nextTry.Sub(s.now()), 0).Round(10 * time.Millisecond)
		return false, fmt.Sprintf("restarting in %s after %s", in, s.lastErr)
	default:
		return false, "stopped"
	}
}
