package whois

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
	"tailscale.com/types/empty"
	"tailscale.com/types/netmap"
	"tailscale.com/wgengine/filter"
)

// TestAffectsWhoIs: notifications about peers, profiles, this node or its
// state invalidate the cache; the rest do not.
func TestAffectsWhoIs(t *testing.T) {
	state := ipn.Running
	msg := "x"
	tests := []struct {
		name string
		n    ipn.Notify
		want bool
	}{
		{name: "peers changed", n: ipn.Notify{PeersChanged: []*tailcfg.Node{{}}}, want: true},
		{name: "peers removed", n: ipn.Notify{PeersRemoved: []tailcfg.NodeID{1}}, want: true},
		{name: "peer patch", n: ipn.Notify{PeerChangedPatch: []*tailcfg.PeerChange{{}}}, want: true},
		{name: "user profiles", n: ipn.Notify{UserProfiles: map[tailcfg.UserID]tailcfg.UserProfileView{1: {}}}, want: true},
		{name: "self", n: ipn.Notify{SelfChange: &tailcfg.Node{}}, want: true},
		{name: "state", n: ipn.Notify{State: &state}, want: true},
		{name: "prefs", n: ipn.Notify{Prefs: &ipn.PrefsView{}}, want: true},
		{name: "login finished", n: ipn.Notify{LoginFinished: &empty.Message{}}, want: true},
		{name: "error", n: ipn.Notify{ErrMessage: &msg}, want: true},
		{name: "initial status", n: ipn.Notify{InitialStatus: &ipnstate.Status{}}, want: true},
		{name: "netmap", n: ipn.Notify{NetMap: &netmap.NetworkMap{}}, want: true},
		{name: "engine statistics", n: ipn.Notify{Engine: &ipn.EngineStatus{}}},
		{name: "empty", n: ipn.Notify{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := affectsWhoIs(&tt.n); got != tt.want {
				t.Errorf("affectsWhoIs = %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeBus is a LocalAPI serving only watch-ipn-bus: each watch streams
// the notifications sent on notes until a nil one ends it.
type fakeBus struct {
	notes   chan *ipn.Notify
	watches atomic.Int32
}

func (b *fakeBus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/localapi/v0/watch-ipn-bus" {
		http.NotFound(w, r)
		return
	}
	b.watches.Add(1)
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case n := <-b.notes:
			if n == nil {
				return
			}
			enc.Encode(n)
			http.NewResponseController(w).Flush()
		}
	}
}

// until polls cond until it holds, failing the test if ctx ends first.
func until(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatch runs the bus watch against a fake LocalAPI: the cache is on
// only while the watch is open; a relevant notification invalidates it,
// an irrelevant one does not; a closed watch is reopened; Watch returns
// when its context ends.
func TestWatch(t *testing.T) {
	bus := &fakeBus{notes: make(chan *ipn.Notify)}
	srv := httptest.NewServer(bus)
	defer srv.Close()
	lc := &local.Client{
		OmitAuth: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
		},
	}
	n := &fakeNode{}
	n.filter.Store(&filter.Filter{})
	c := New(n.whoIs, nil, n.filter.Load, slog.New(slog.NewTextHandler(io.Discard, nil)))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watchCtx, stopWatch := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Watch(watchCtx, lc)
	}()
	defer func() {
		stopWatch()
		<-done
	}()

	const peer = "100.64.0.9"
	lookup := func() { whoIs(t, c, "", peer) }
	until(ctx, t, "watch opens", c.watchUp.Load)
	lookup()
	lookup()
	if hits, misses := c.Stats(); hits != 1 || misses != 1 {
		t.Fatalf("with the watch open: %d hits, %d misses; want 1 and 1", hits, misses)
	}

	// Sent in order: the irrelevant one is read before the relevant one.
	gen := c.gen.Load()
	bus.notes <- &ipn.Notify{Engine: &ipn.EngineStatus{}}
	bus.notes <- &ipn.Notify{PeersRemoved: []tailcfg.NodeID{1}}
	until(ctx, t, "a removed peer invalidates", func() bool { return c.gen.Load() != gen })
	if got := c.gen.Load(); got != gen+1 {
		t.Errorf("generation moved by %d for one relevant notification, want 1", got-gen)
	}
	lookup()
	if hits, misses := c.Stats(); hits != 1 || misses != 2 {
		t.Errorf("after a removed peer: %d hits, %d misses; want 1 and 2", hits, misses)
	}

	bus.notes <- nil // the watch fails
	until(ctx, t, "watch closes", func() bool { return !c.watchUp.Load() })
	calls := n.calls.Load()
	lookup()
	lookup()
	if hits, misses := c.Stats(); hits != 1 || misses != 2 || n.calls.Load() != calls+2 {
		t.Errorf("with the watch closed: %d hits, %d misses, %d calls; want the cache bypassed", hits, misses, n.calls.Load()-calls)
	}

	until(ctx, t, "watch reopens", func() bool { return bus.watches.Load() == 2 && c.watchUp.Load() })
	lookup()
	lookup()
	if hits, misses := c.Stats(); hits != 2 || misses != 3 {
		t.Errorf("with the watch reopened: %d hits, %d misses; want 2 and 3", hits, misses)
	}

	stopWatch()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Watch did not return when its context ended")
	}
}
