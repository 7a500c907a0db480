// Package whois identifies tailnet peers: it answers WhoIs from memory
// while nothing that could change the answer has happened, and asks the
// node's LocalAPI otherwise. internal/identity turns an answer into a
// caller's Identity; internal/server identifies each HTTP request with it.
package whois

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/net/tsaddr"
	"tailscale.com/wgengine/filter"
)

// Func identifies the tailnet peer at addr, a bare IP address (callers
// never pass a port). The tsnet node's LocalClient().WhoIs has this shape.
type Func func(ctx context.Context, addr string) (*apitype.WhoIsResponse, error)

// ServiceFunc identifies the peer at addr, a bare IP address, as a caller
// of Tailscale Service svc: the CapMap holds the grants whose dst is the
// Service. The LocalClient's WhoIsForService has this shape but for the
// type of svc.
type ServiceFunc func(ctx context.Context, addr, svc string) (*apitype.WhoIsResponse, error)

// Cache answers WhoIs from memory while nothing that could change the
// answer has happened. A WhoIs through the LocalAPI costs about 75 µs
// and 255 allocations, some 40% of a request.
//
// An entry is valid only while both of these are unchanged since before
// the WhoIs call that filled it:
//   - a generation, bumped by every IPN bus notification about peers,
//     user profiles, this node or its state (a peer's tags, user,
//     removal), whenever the bus watch opens, closes or fails, and by
//     Invalidate;
//   - the engine's packet filter pointer, which every filter update
//     replaces: a grant change reaches the node as a MapResponse carrying
//     only PacketFilters and sends no notification at all, but WhoIs's
//     CapMap is computed from that filter.
//
// While the watch (see Watch) is down the cache is bypassed. Errors are
// never cached, and only tailnet addresses are. So a revoked grant, a
// retagged or a removed peer applies to the very next request.
//
// Create it with New; its methods are safe for concurrent use.
type Cache struct {
	// OnLookup, if non-nil, is told of each answer from memory (true) and
	// each WhoIs call made while the cache is on (false). Set it before
	// the first lookup; nil means no one is told.
	OnLookup func(hit bool)
	// KeepStale, set only by tests, keeps entries whatever changes: to
	// show that the tests of invalidation can fail. Set it before the
	// first lookup; false means entries are invalidated as described
	// above.
	KeepStale bool

	lookup    Func
	lookupSvc ServiceFunc // nil means WhoIsFor with a service fails
	filter    func() *filter.Filter
	log       *slog.Logger

	gen     atomic.Uint64
	watchUp atomic.Bool
	// hits and misses count answers from memory and WhoIs calls made
	// while the cache was on.
	hits, misses atomic.Uint64

	mu sync.Mutex // guards the field below
	m  map[key]entry
}

// key is a cache entry's key: the caller's IP and the Service it called
// ("" for the node itself): a Service's CapMap differs from the node's.
type key struct {
	svc string
	ip  netip.Addr
}

// entry is one cached answer and the state it was valid for.
type entry struct {
	gen    uint64
	filter *filter.Filter
	resp   *apitype.WhoIsResponse
}

// maxEntries bounds the cache; past it, the cache starts over. A tailnet
// rarely has this many active callers of one host.
const maxEntries = 8192

// New returns a cache in front of lookup (the node's WhoIs) and lookupSvc
// (its WhoIsForService; nil means WhoIsFor with a service fails). filter
// reports the engine's current packet filter; log receives the watch's
// failures (nil means slog.Default()). The cache stays bypassed until
// Watch runs.
func New(lookup Func, lookupSvc ServiceFunc, filter func() *filter.Filter, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.Default()
	}
	return &Cache{lookup: lookup, lookupSvc: lookupSvc, filter: filter, log: log, m: map[key]entry{}}
}

// WhoIs identifies the peer at addr, a bare IP: with a port, WhoIs of an
// address no peer owns sleeps for hundreds of milliseconds holding the
// backend's lock, stalling every other caller. It is a Func.
func (c *Cache) WhoIs(ctx context.Context, addr string) (*apitype.WhoIsResponse, error) {
	return c.WhoIsFor(ctx, "", addr)
}

// WhoIsFor identifies the peer at addr, a bare IP, as a caller of
// Service svc, or of the node itself when svc is "".
func (c *Cache) WhoIsFor(ctx context.Context, svc, addr string) (*apitype.WhoIsResponse, error) {
	lookup := c.lookup
	if svc != "" {
		if c.lookupSvc == nil {
			return nil, errors.New("no WhoIs for services")
		}
		lookup = func(ctx context.Context, addr string) (*apitype.WhoIsResponse, error) {
			return c.lookupSvc(ctx, addr, svc)
		}
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || !c.watchUp.Load() || !tsaddr.IsTailscaleIP(ip) {
		return lookup(ctx, addr)
	}
	k := key{svc: svc, ip: ip}
	// Both read before the call: a change while it runs leaves the
	// entry stale-marked.
	gen, f := c.gen.Load(), c.filter()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && (c.KeepStale || e.gen == gen && e.filter == f) {
		c.hits.Add(1)
		if c.OnLookup != nil {
			c.OnLookup(true)
		}
		return e.resp, nil
	}
	c.misses.Add(1)
	if c.OnLookup != nil {
		c.OnLookup(false)
	}
	resp, err := lookup(ctx, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxEntries {
		clear(c.m)
	}
	c.m[k] = entry{gen: gen, filter: f, resp: resp}
	c.mu.Unlock()
	return resp, nil
}

// Invalidate makes every entry stale.
func (c *Cache) Invalidate() { c.gen.Add(1) }

// Stats returns how many answers came from memory (hits) and how many
// WhoIs calls were made while the cache was on (misses).
func (c *Cache) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}
