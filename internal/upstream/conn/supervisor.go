package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tsmcp/tsmcp/internal/safetext"
)

// maxRestartWait is how long a caller waits for a child (or session) that
// is in backoff: if the next attempt is further away than this, Session
// fails at once instead of sitting out the delay.
const maxRestartWait = time.Second

// maxLoggedErr bounds an error text in a log line: an upstream's error
// may quote whatever it likes.
const maxLoggedErr = 4096

// Error is an error of the connection layer; constants of this type work
// with errors.Is.
type Error string

func (e Error) Error() string { return string(e) }

// Errors Supervisor.Session can return.
const (
	ErrStopped Error = "upstream stopped"
	ErrDown    Error = "upstream down"
)

type supState int

const (
	stateStarting supState = iota // dialing, first time or after backoff
	stateUp                       // a session serves calls
	stateBackoff                  // waiting before the next attempt
	stateStopped                  // ctx ended; no more sessions
)

// Conn is what a Supervisor keeps alive: a *Session, or a type of the
// layer above that holds one (its own state beside the connection).
type Conn interface {
	// Conn returns the connection.
	Conn() *Session
}

// Config is what a Supervisor does. Every func field may be nil (none),
// except Dial.
type Config[S Conn] struct {
	// Log carries the upstream (and caller) attributes.
	Log *slog.Logger
	// Dial starts a child or opens a session.
	Dial func(ctx context.Context) (S, error)
	// Attach is called with each new session before it serves (with the
	// supervisor's context, which ends at Stop): the layer above takes
	// the session up (re-subscribes what it held on the last one, say).
	Attach func(ctx context.Context, s S)
	// Refresh brings what the layer above keeps of a session up to date
	// (the listings): it is called on each new session after Attach and
	// before it serves (an error ends the session), and after every Poke
	// while it serves (an error fails it). Pokes that come before the
	// first call are covered by it.
	Refresh func(ctx context.Context, s S) error
	// Attempted is called after every dial attempt, once the upstream is
	// up (and refreshed) or down.
	Attempted func()
	// Restarted is called before every dial after the first (a restart).
	Restarted func()

	// Ping: ping the session every PingInterval (remote sessions).
	Ping         bool
	PingInterval time.Duration
	// BackoffBase is the first restart delay; it doubles after each
	// failure up to BackoffMax, and goes back to BackoffBase after a
	// session that ran for StableAfter.
	BackoffBase, BackoffMax, StableAfter time.Duration
}

// Supervisor keeps one session (a stdio child or a remote session) alive:
// it dials, serves until the session dies, then dials again after an
// exponential backoff.
type Supervisor[S Conn] struct {
	cfg Config[S]
	log *slog.Logger
	// now is time.Now; tests replace it (before Run) to read the restart
	// delays off nextTry.
	now func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	poked  chan struct{} // buffered 1: a Refresh was asked for

	mu      sync.Mutex // guards the fields below
	state   supState
	cur     S
	lastErr string        // why the last session ended or the last dial failed
	nextTry time.Time     // when state is stateBackoff
	tries   int           // dial attempts started
	everUp  bool          // a session has served (been up) at least once
	changed chan struct{} // closed and replaced on every state change
}

// NewSupervisor returns a supervisor of cfg under parent; Run runs it.
func NewSupervisor[S Conn](parent context.Context, cfg Config[S]) *Supervisor[S] {
	ctx, cancel := context.WithCancel(parent)
	return &Supervisor[S]{
		cfg:     cfg,
		log:     cfg.Log,
		now:     time.Now,
		ctx:     ctx,
		cancel:  cancel,
		poked:   make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
}

// Context is the supervisor's: it ends at Stop (or when its parent does).
func (s *Supervisor[S]) Context() context.Context { return s.ctx }

// setStateLocked records a state change and wakes waiters. Callers hold
// s.mu.
func (s *Supervisor[S]) setStateLocked(st supState) {
	s.state = st
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stop ends the supervision; Run returns once the current session is
// closed.
func (s *Supervisor[S]) Stop() { s.cancel() }

// Run is the supervision loop; it returns when the supervisor's context
// ends, after closing the current session (and so reaping its child).
func (s *Supervisor[S]) Run() {
	defer func() {
		s.mu.Lock()
		var none S
		s.cur = none
		s.setStateLocked(stateStopped)
		s.mu.Unlock()
	}()
	delay := s.cfg.BackoffBase
	for {
		started := s.now()
		s.mu.Lock()
		s.tries++
		restart := s.tries > 1
		s.mu.Unlock()
		if restart && s.cfg.Restarted != nil {
			s.cfg.Restarted()
		}
		sess, err := s.cfg.Dial(s.ctx)
		if s.ctx.Err() != nil {
			if err == nil {
				sess.Conn().Close()
			}
			return
		}
		if err == nil {
			err = s.serve(sess)
			if s.ctx.Err() != nil {
				return
			}
			if s.now().Sub(started) >= s.cfg.StableAfter {
				delay = s.cfg.BackoffBase
			}
		}
		reason := err.Error()
		s.mu.Lock()
		var none S
		s.cur = none
		s.lastErr = reason
		s.nextTry = s.now().Add(delay)
		s.setStateLocked(stateBackoff)
		s.mu.Unlock()
		s.log.Warn("upstream down", "reason", safetext.Log(reason, maxLoggedErr), "retry_in", delay.String())
		if s.cfg.Attempted != nil {
			s.cfg.Attempted()
		}

		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		delay = min(delay*2, s.cfg.BackoffMax)
		s.mu.Lock()
		s.setStateLocked(stateStarting)
		s.mu.Unlock()
	}
}

// serve hands sess to the layer above (Attach, Refresh), publishes it,
// refreshes it on every Poke, and returns why the session ended. The
// session is closed (its child reaped) on return.
func (s *Supervisor[S]) serve(sess S) error {
	c := sess.Conn()
	defer c.Close()
	if s.cfg.Attach != nil {
		s.cfg.Attach(s.ctx, sess)
	}
	if s.cfg.Refresh != nil {
		// Drop pokes that arrived during the dial: the refresh below
		// covers them.
		select {
		case <-s.poked:
		default:
		}
		if err := s.cfg.Refresh(s.ctx, sess); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.cur = sess
	s.lastErr = ""
	s.everUp = true
	s.setStateLocked(stateUp)
	s.mu.Unlock()
	s.log.Info("upstream up", "transport", c.kind)
	if s.cfg.Attempted != nil {
		s.cfg.Attempted()
	}

	var pingC <-chan time.Time
	if s.cfg.Ping {
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		pingC = t.C
	}
	for {
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-c.ctx.Done():
			return errors.New(c.Reason())
		case <-s.poked:
			if s.cfg.Refresh == nil {
				continue
			}
			if err := s.cfg.Refresh(s.ctx, sess); err != nil {
				c.Fail(err.Error())
			}
		case <-pingC:
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.PingInterval)
			//lint:ignore SA1019 the client is pinned to 2025-11-25, where ping is a real RPC
			err := c.client.Ping(ctx)
			cancel()
			if err != nil && s.ctx.Err() == nil {
				c.Fail(fmt.Sprintf("ping failed: %v", err))
			}
		}
	}
}

// Poke asks for a Refresh of the session that serves (a list_changed
// arrived); pokes that come while one is pending are one.
func (s *Supervisor[S]) Poke() {
	select {
	case s.poked <- struct{}{}:
	default:
	}
}

// Session waits for a live session: while the supervisor is starting, or
// in backoff with the next attempt at most maxRestartWait away; it waits
// for one attempt at most. It fails with ErrDown (wrapping the last
// failure) when the upstream stays down, ErrStopped after Stop, or ctx's
// error.
func (s *Supervisor[S]) Session(ctx context.Context) (S, error) {
	var none S
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
			return none, ErrStopped
		case st == stateBackoff && failedSince:
			return none, fmt.Errorf("%w: %s", ErrDown, last)
		case st == stateUp:
			select {
			case <-cur.Conn().ctx.Done():
				// Dead, and the run loop has not noticed yet: wait
				// for the change (the restart, or the backoff).
			default:
				return cur, nil
			}
		case st == stateBackoff && wait > maxRestartWait:
			return none, fmt.Errorf("%w: %s", ErrDown, last)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return none, ctx.Err()
		}
	}
}

// Live returns the current session, the zero S (nil) while there is none
// that serves.
func (s *Supervisor[S]) Live() S {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateUp {
		var none S
		return none
	}
	return s.cur
}

// History reports whether a session has ever been up, and whether the
// first attempt to bring one up is still in progress.
func (s *Supervisor[S]) History() (everUp, firstAttempt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.everUp, !s.everUp && s.lastErr == "" && s.state == stateStarting
}

// Describe returns whether the supervisor serves calls now and a detail
// for a status page.
func (s *Supervisor[S]) Describe() (bool, string) {
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
