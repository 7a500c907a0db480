package whois

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"
	"tailscale.com/wgengine/filter"
)

// fakeNode counts WhoIs calls and answers each with a fresh response, so
// that a cached answer can be told from a new one by pointer.
type fakeNode struct {
	calls, svcCalls atomic.Int32
	lastSvc         atomic.Value // string
	fail            atomic.Bool
	filter          atomic.Pointer[filter.Filter]
}

func (n *fakeNode) whoIs(_ context.Context, addr string) (*apitype.WhoIsResponse, error) {
	n.calls.Add(1)
	if n.fail.Load() {
		return nil, errors.New("peer not found")
	}
	return &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: addr + "."}}, nil
}

func (n *fakeNode) whoIsForService(_ context.Context, addr, svc string) (*apitype.WhoIsResponse, error) {
	n.svcCalls.Add(1)
	n.lastSvc.Store(svc)
	return &apitype.WhoIsResponse{Node: &tailcfg.Node{Name: addr + "." + svc + "."}}, nil
}

// newTestCache returns a cache over a fake node, with its watch up
// unless down.
func newTestCache(down bool) (*Cache, *fakeNode, *[]bool) {
	n := &fakeNode{}
	n.filter.Store(&filter.Filter{})
	c := New(n.whoIs, n.whoIsForService, n.filter.Load, nil)
	var seen []bool
	c.OnLookup = func(hit bool) { seen = append(seen, hit) }
	c.watchUp.Store(!down)
	return c, n, &seen
}

func whoIs(t *testing.T, c *Cache, svc, addr string) *apitype.WhoIsResponse {
	t.Helper()
	r, err := c.WhoIsFor(context.Background(), svc, addr)
	if err != nil {
		t.Fatalf("WhoIsFor(%q, %q): %v", svc, addr, err)
	}
	return r
}

// TestCache checks when an answer comes from memory and when the node is
// asked again: each case makes two lookups with a change between them.
func TestCache(t *testing.T) {
	const peer = "100.64.0.9"
	tests := []struct {
		name       string
		down       bool   // the bus watch is not open
		keepStale  bool   // Cache.KeepStale
		second     string // the second lookup's address; "" means peer
		svc1, svc2 string // the Services the two lookups are for
		between    func(*Cache, *fakeNode)
		wantCached bool // the second answer is the first's
		wantHits   uint64
		wantSeen   []bool // what OnLookup was told
	}{
		{name: "repeat is a hit", wantCached: true, wantHits: 1, wantSeen: []bool{false, true}},
		{name: "invalidate", between: func(c *Cache, _ *fakeNode) { c.Invalidate() }, wantSeen: []bool{false, false}},
		{
			name:     "packet filter replaced",
			between:  func(_ *Cache, n *fakeNode) { n.filter.Store(&filter.Filter{}) },
			wantSeen: []bool{false, false},
		},
		{name: "watch down bypasses", down: true, wantSeen: nil},
		{
			name:     "watch goes down",
			between:  func(c *Cache, _ *fakeNode) { c.watchUp.Store(false) },
			wantSeen: []bool{false},
		},
		{name: "other peer", second: "100.64.0.10", wantSeen: []bool{false, false}},
		{name: "other Service", svc1: "svc:a", svc2: "svc:b", wantSeen: []bool{false, false}},
		{name: "Service then node", svc1: "svc:a", wantSeen: []bool{false, false}},
		{name: "same Service is a hit", svc1: "svc:a", svc2: "svc:a", wantCached: true, wantHits: 1, wantSeen: []bool{false, true}},
		{
			name:      "keep stale",
			keepStale: true,
			between: func(c *Cache, n *fakeNode) {
				c.Invalidate()
				n.filter.Store(&filter.Filter{})
			},
			wantCached: true, wantHits: 1, wantSeen: []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n, seen := newTestCache(tt.down)
			c.KeepStale = tt.keepStale
			first := whoIs(t, c, tt.svc1, peer)
			if tt.between != nil {
				tt.between(c, n)
			}
			addr := cmp.Or(tt.second, peer)
			second := whoIs(t, c, tt.svc2, addr)
			if cached := first == second; cached != tt.wantCached {
				t.Errorf("second answer cached = %v, want %v", cached, tt.wantCached)
			}
			want := addr + "."
			if tt.svc2 != "" {
				want += tt.svc2 + "."
			}
			if second.Node.Name != want {
				t.Errorf("second answer names %q, want %q", second.Node.Name, want)
			}
			hits, misses := c.Stats()
			if hits != tt.wantHits || misses != uint64(len(tt.wantSeen))-hits {
				t.Errorf("Stats() = %d hits, %d misses; want %d hits of %d lookups", hits, misses, tt.wantHits, len(tt.wantSeen))
			}
			if !slices.Equal(*seen, tt.wantSeen) {
				t.Errorf("OnLookup told %v, want %v", *seen, tt.wantSeen)
			}
			if got, want := n.calls.Load()+n.svcCalls.Load(), 2-int32(tt.wantHits); got != want {
				t.Errorf("%d WhoIs calls, want %d", got, want)
			}
		})
	}
}

// TestCacheNotCached: errors, addresses outside the tailnet's ranges and
// unparsable addresses go to the node every time.
func TestCacheNotCached(t *testing.T) {
	tests := []struct {
		name string
		addr string
		fail bool
	}{
		{name: "error", addr: "100.64.0.9", fail: true},
		{name: "not a tailnet address", addr: "192.168.1.9"},
		{name: "not an address", addr: "100.64.0.9:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n, _ := newTestCache(false)
			n.fail.Store(tt.fail)
			for range 2 {
				_, err := c.WhoIs(context.Background(), tt.addr)
				if (err != nil) != tt.fail {
					t.Fatalf("WhoIs(%q) error %v, want failure %v", tt.addr, err, tt.fail)
				}
			}
			if got := n.calls.Load(); got != 2 {
				t.Errorf("%d WhoIs calls for two lookups, want 2", got)
			}
			if hits, _ := c.Stats(); hits != 0 {
				t.Errorf("%d hits, want none", hits)
			}
		})
	}
}

// TestCacheServiceLookup: a Service's caller is asked of lookupSvc with
// the Service's name; without lookupSvc the lookup fails.
func TestCacheServiceLookup(t *testing.T) {
	c, n, _ := newTestCache(false)
	whoIs(t, c, "svc:mcp", "100.64.0.9")
	if got, _ := n.lastSvc.Load().(string); got != "svc:mcp" || n.calls.Load() != 0 {
		t.Errorf("lookupSvc asked for %q, node WhoIs called %d times; want svc:mcp and 0", got, n.calls.Load())
	}

	none := New(n.whoIs, nil, n.filter.Load, nil)
	if _, err := none.WhoIsFor(context.Background(), "svc:mcp", "100.64.0.9"); err == nil {
		t.Error("WhoIsFor a Service without lookupSvc succeeded, want an error")
	}
}

// TestCacheBounded: past maxEntries the cache starts over.
func TestCacheBounded(t *testing.T) {
	c, n, _ := newTestCache(false)
	base := netip.MustParseAddr("100.64.0.1").As4()
	for i := range maxEntries {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		whoIs(t, c, "", netip.AddrFrom4(a).String())
	}
	first := netip.AddrFrom4(base).String()
	calls := n.calls.Load()
	whoIs(t, c, "", first)
	if n.calls.Load() != calls {
		t.Fatalf("a full cache lost %s", first)
	}
	whoIs(t, c, "", "100.100.0.1") // one past the bound
	calls = n.calls.Load()
	whoIs(t, c, "", first)
	if n.calls.Load() != calls+1 {
		t.Error("an entry survived the cache starting over")
	}
	c.mu.Lock()
	size := len(c.m)
	c.mu.Unlock()
	if size > maxEntries {
		t.Errorf("%d entries, want at most %d", size, maxEntries)
	}
}
