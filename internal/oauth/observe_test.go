package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// observed is what Config.Observe got: each Event with the count of
// connected identities ConnectedIdentities answered from inside the
// observer (so the index is up to date, and no lock held, when it runs).
type observed struct {
	mu     sync.Mutex // guards the field below
	events []string
}

func (o *observed) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

func observing(o *observed, m **Manager) func(*Config) {
	return func(c *Config) {
		c.Observe = func(e Event) {
			n, err := (*m).ConnectedIdentities("files")
			if err != nil {
				n = -1
			}
			o.mu.Lock()
			o.events = append(o.events, fmt.Sprintf("%s %s %s n=%d", e.Kind, e.Upstream, e.Reason, n))
			o.mu.Unlock()
		}
	}
}

// TestObserveEvents: connects, refused callbacks, refreshes (good,
// refused, without a refresh token) and disconnections each give one
// Event naming the upstream and a fixed reason, never the identity; the
// count of connected identities follows them and another replica reads
// the same count.
func TestObserveEvents(t *testing.T) {
	var o observed
	var m *Manager
	e := newEnv(t, observing(&o, &m))
	m = e.m
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	ctx := context.Background()

	steps := []struct {
		name string
		do   func(t *testing.T)
		want []string
	}{
		{name: "alice and bob connect", do: func(t *testing.T) {
			e.connect(t, "alice")
			e.as.set(func(f *fakeAS) { f.subject = "bob-upstream" })
			e.connect(t, "bob")
		}, want: []string{"connected files  n=1", "connected files  n=2"}},
		{name: "bob brings alice's callback", do: func(t *testing.T) {
			a, err := e.m.Start(ctx, "alice", &e.up)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Finish(ctx, "bob", CallbackFromQuery(browse(t, a.URL))); !errors.Is(err, ErrWrongIdentity) {
				t.Fatalf("Finish as bob: %v", err)
			}
		}, want: []string{"authorization_failed files wrong_identity n=2"}},
		{name: "a forged state", do: func(t *testing.T) {
			if _, err := e.m.Finish(ctx, "bob", Callback{State: "forged", Code: "x"}); !errors.Is(err, ErrUnknownState) {
				t.Fatalf("Finish: %v", err)
			}
		}, want: []string{"authorization_failed  unknown_state n=2"}},
		{name: "the server denies", do: func(t *testing.T) {
			a, err := e.m.Start(ctx, "carol", &e.up)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Finish(ctx, "carol", Callback{State: a.State, Iss: e.as.url(), Error: "access_denied"}); err == nil {
				t.Fatal("Finish accepted a denial")
			}
		}, want: []string{"authorization_failed files denied n=2"}},
		{name: "the token endpoint refuses the code", do: func(t *testing.T) {
			a, err := e.m.Start(ctx, "carol", &e.up)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Finish(ctx, "carol", Callback{State: a.State, Iss: e.as.url(), Code: "not-a-code"}); err == nil {
				t.Fatal("Finish accepted a made-up code")
			}
		}, want: []string{"authorization_failed files token_error n=2"}},
		{name: "the upstream's authorization server cannot be discovered", do: func(t *testing.T) {
			gone := Upstream{Name: "files", URL: "http://127.0.0.1:9/mcp"}
			if _, err := e.m.Start(ctx, "carol", &gone); err == nil {
				t.Fatal("Start succeeded without an authorization server")
			}
		}, want: []string{"authorization_failed files start_error n=2"}},
		{name: "both tokens expire and are refreshed", do: func(t *testing.T) {
			e.advance(2 * time.Minute)
			for _, id := range []string{"alice", "bob"} {
				if _, err := e.get(id); err != nil {
					t.Fatalf("%s: %v", id, err)
				}
			}
		}, want: []string{"refreshed files  n=2", "refreshed files  n=2"}},
		{name: "bob's grant is revoked", do: func(t *testing.T) {
			e.as.revoke("bob-upstream")
			e.advance(2 * time.Minute)
			if _, err := e.get("bob"); err == nil {
				t.Fatal("bob's revoked grant still works")
			}
			if _, err := e.get("alice"); err != nil {
				t.Fatalf("alice: %v", err)
			}
		}, want: []string{"refresh_failed files refused n=1", "refreshed files  n=1"}},
		{name: "the token endpoint is down", do: func(t *testing.T) {
			e.advance(2 * time.Minute)
			// The token endpoint drops the connection without answering.
			e.as.set(func(f *fakeAS) { f.onRefresh = func() { panic(http.ErrAbortHandler) } })
			if _, err := e.get("alice"); err == nil {
				t.Fatal("a refresh against a down token endpoint succeeded")
			}
		}, want: []string{"refresh_failed files error n=1"}},
		{name: "alice disconnects", do: func(t *testing.T) {
			if err := e.m.Disconnect("alice", "files"); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"disconnected files  n=0"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			if got := o.take(); !slices.Equal(got, s.want) {
				t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(s.want, "\n  "))
			}
		})
	}
}

// TestConnectedIdentitiesShared: the count is kept in the shared store:
// another replica reads it, and an index update lost to two replicas
// writing at once heals (a lost addition at the identity's next refresh,
// a lost removal at the next update).
func TestConnectedIdentitiesShared(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	e.connect(t, "alice")
	other := e.replica(t)
	other.connect(t, "bob")
	count := func(m *Manager) int {
		t.Helper()
		n, err := m.ConnectedIdentities("files")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, b := count(e.m), count(other.m); a != 2 || b != 2 {
		t.Fatalf("replicas count %d and %d connected identities, want 2", a, b)
	}
	if n, _ := e.m.ConnectedIdentities("other-upstream"); n != 0 {
		t.Errorf("an upstream nobody connected counts %d", n)
	}

	// A removal that arrives after the identity connected again (a
	// refused refresh racing a new connect) leaves it listed: the index
	// follows the token, not the event.
	e.m.done("alice", Event{Kind: EventRefreshFailed, Upstream: "files", Reason: RefreshRefused})
	if n := count(e.m); n != 2 {
		t.Fatalf("after a late removal of connected alice: %d, want 2", n)
	}

	// A lost removal: the index still names an identity whose token is
	// gone; the next update drops it.
	if err := e.store.put(indexOwner("files"), index{Identities: []string{"alice", "bob", "ghost"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Disconnect("alice", "files"); err != nil {
		t.Fatal(err)
	}
	if n := count(other.m); n != 1 {
		t.Fatalf("after alice disconnected: %d, want 1 (the ghost without a token dropped too)", n)
	}
	// A lost addition: the index misses bob; his next refresh adds him.
	if err := e.store.del(indexOwner("files")); err != nil {
		t.Fatal(err)
	}
	e.advance(2 * time.Minute)
	if _, err := other.get("bob"); err != nil {
		t.Fatal(err)
	}
	if n := count(e.m); n != 1 {
		t.Fatalf("after bob's refresh: %d, want 1 (bob added back)", n)
	}

	// Many departed identities: each update checks a bounded number,
	// the next ones in turn.
	ghosts := []string{"bob"}
	for i := range indexPruneChecks + 4 {
		ghosts = append(ghosts, fmt.Sprintf("ghost%d", i))
	}
	if err := e.store.put(indexOwner("files"), index{Identities: ghosts}); err != nil {
		t.Fatal(err)
	}
	for round, want := range []int{6, 1} { // 5 unchecked ghosts and bob, then bob
		if err := e.m.Disconnect("carol", "files"); err != nil {
			t.Fatal(err)
		}
		if n := count(e.m); n != want {
			t.Fatalf("after update %d: %d, want %d", round+1, n, want)
		}
	}
}
