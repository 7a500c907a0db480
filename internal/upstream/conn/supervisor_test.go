package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// guard bounds waits that should end promptly, so that a bug fails the
// test instead of hanging it.
const guard = 20 * time.Second

// waitFor waits (at most guard) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, guard, what, cond)
}

// fakeClock is a supervisor's now that moves only when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSupervisorBackoff checks the restart delays the supervisor schedules
// (read off nextTry against its clock, not measured): they double from
// BackoffBase up to BackoffMax, and go back to BackoffBase after a session
// that ran for StableAfter, and only then.
func TestSupervisorBackoff(t *testing.T) {
	cfg := Config[*Session]{
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  40 * time.Millisecond,
		StableAfter: time.Minute,
	}
	// Each dial does what the test sends: fail, or return a session.
	dials := make(chan *Session)
	cfg.Dial = func(ctx context.Context) (*Session, error) {
		select {
		case sess := <-dials:
			if sess == nil {
				return nil, errors.New("dial failed")
			}
			return sess, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s := NewSupervisor(context.Background(), cfg)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	s.now = clock.now
	ran := make(chan struct{})
	go func() { s.Run(); close(ran) }()
	defer func() {
		s.Stop()
		select {
		case <-ran:
		case <-time.After(guard):
			t.Error("run did not return after stop")
		}
	}()

	// waitUp waits until the session of the n-th dial serves.
	waitUp := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("dial %d up", n), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.tries == n && s.state == stateUp
		})
	}
	// delayAfter waits until the n-th dial attempt has failed or its
	// session ended, and returns the delay then scheduled. The backoff may
	// be over already (the next dial waiting on dials): nextTry stays
	// until the next failure, and the clock has not moved.
	delayAfter := func(n int) time.Duration {
		t.Helper()
		waitFor(t, fmt.Sprintf("backoff after dial %d", n), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.tries == n && s.state == stateBackoff || s.tries > n
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.nextTry.Sub(clock.now())
	}

	tries := 0
	// fail makes the next dial fail and returns the delay scheduled after it.
	fail := func() time.Duration {
		t.Helper()
		dials <- nil
		tries++
		return delayAfter(tries)
	}
	// serve makes the next dial succeed; the session runs for ran (on the
	// supervisor's clock), then dies. It returns the delay scheduled then.
	serve := func(ran time.Duration) time.Duration {
		t.Helper()
		sess := NewSession("fake", time.Second)
		dials <- sess
		tries++
		waitUp(tries)
		clock.advance(ran)
		sess.Fail("gone")
		return delayAfter(tries)
	}

	ms := time.Millisecond
	steps := []struct {
		name string
		next func() time.Duration
		want time.Duration
	}{
		{"first failure: base", fail, 10 * ms},
		{"doubles", fail, 20 * ms},
		{"doubles again", fail, 40 * ms},
		{"capped at max", fail, 40 * ms},
		{"session outlived StableAfter: back to base", func() time.Duration { return serve(cfg.StableAfter) }, 10 * ms},
		{"short session: no reset, doubles", func() time.Duration { return serve(cfg.StableAfter - ms) }, 20 * ms},
		{"then doubles on", fail, 40 * ms},
	}
	for _, st := range steps {
		if got := st.next(); got != st.want {
			t.Fatalf("%s: delay %v, want %v", st.name, got, st.want)
		}
	}
}
