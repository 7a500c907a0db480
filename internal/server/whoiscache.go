package server

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/ipn"
	"tailscale.com/net/tsaddr"
	"tailscale.com/wgengine/filter"
)

// whoisCache answers WhoIs from memory while nothing that could change
// the answer has happened. A WhoIs through the LocalAPI costs about 75 µs
// and 255 allocations, some 40% of a request.
//
// An entry is valid only while both of these are unchanged since before
// the WhoIs call that filled it:
//   - gen, bumped by every IPN bus notification about peers, user
//     profiles, this node or its state (a peer's tags, user, removal), and
//     whenever the bus watch opens, closes or fails;
//   - the engine's packet filter pointer, which every filter update
//     replaces: a grant change reaches the node as a MapResponse carrying
//     only PacketFilters and sends no notification at all, but WhoIs's
//     CapMap is computed from that filter.
//
// While the watch is down the cache is bypassed. Errors are never cached,
// and only tailnet addresses are. So a revoked grant, a retagged or a
// removed peer applies to the very next request.
type whoisCache struct {
	lookup WhoIsFunc
	// lookupSvc identifies a caller of a Tailscale Service (WhoIsForService:
	// the CapMap holds the grants whose dst is the Service). Nil means
	// whoIsFor with a service fails.
	lookupSvc func(ctx context.Context, addr, svc string) (*apitype.WhoIsResponse, error)
	filter    func() *filter.Filter
	log       *slog.Logger

	gen     atomic.Uint64
	watchUp atomic.Bool
	// hits and misses count answers from memory and WhoIs calls made
	// while the cache was on.
	hits, misses atomic.Uint64
	// onLookup, if set, is told of each hit (true) and miss (false).
	onLookup func(hit bool)
	// stale, set only by tests, keeps entries whatever changes: to show
	// that the tests of invalidation can fail.
	stale bool

	mu sync.Mutex // guards the field below
	m  map[whoisKey]whoisEntry
}

// whoisKey is a cache entry's key: the caller's IP and the Service it
// called ("" for the node itself): a Service's CapMap differs from the
// node's.
type whoisKey struct {
	svc string
	ip  netip.Addr
}

// whoisEntry is one cached answer and the state it was valid for.
type whoisEntry struct {
	gen    uint64
	filter *filter.Filter
	resp   *apitype.WhoIsResponse
}

// maxWhoisEntries bounds the cache; past it, the cache starts over. A
// tailnet rarely has this many active callers of one host.
const maxWhoisEntries = 8192

func newWhoisCache(lookup WhoIsFunc, filter func() *filter.Filter, log *slog.Logger) *whoisCache {
	return &whoisCache{lookup: lookup, filter: filter, log: log, m: map[whoisKey]whoisEntry{}}
}

// whoIs identifies the peer at ip. It calls WhoIs with the bare IP: with a
// port, WhoIs of an address no peer owns sleeps for hundreds of
// milliseconds holding the backend's lock, stalling every other caller.
// It is a WhoIsFunc: addr is a bare IP.
func (c *whoisCache) whoIs(ctx context.Context, addr string) (*apitype.WhoIsResponse, error) {
	return c.whoIsFor(ctx, "", addr)
}

// whoIsFor identifies the peer at ip as a caller of Service svc, or of
// the node itself when svc is "".
func (c *whoisCache) whoIsFor(ctx context.Context, svc, addr string) (*apitype.WhoIsResponse, error) {
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
	key := whoisKey{svc: svc, ip: ip}
	// Both read before the call: a change while it runs leaves the
	// entry stale-marked.
	gen, f := c.gen.Load(), c.filter()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && (c.stale || e.gen == gen && e.filter == f) {
		c.hits.Add(1)
		if c.onLookup != nil {
			c.onLookup(true)
		}
		return e.resp, nil
	}
	c.misses.Add(1)
	if c.onLookup != nil {
		c.onLookup(false)
	}
	resp, err := lookup(ctx, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxWhoisEntries {
		clear(c.m)
	}
	c.m[key] = whoisEntry{gen: gen, filter: f, resp: resp}
	c.mu.Unlock()
	return resp, nil
}

// invalidate makes every entry stale.
func (c *whoisCache) invalidate() { c.gen.Add(1) }

// watchOpts are the IPN bus notifications the cache watches: peer and
// profile changes without full netmaps, and never rate-limited.
const watchOpts = ipn.NotifyPeerChanges | ipn.NotifyNoNetMap

// watchRetry is the pause before the bus watch is reopened after a
// failure; the cache is bypassed meanwhile.
const watchRetry = time.Second

// watch keeps the IPN bus watch open until ctx ends, bumping the
// generation on every relevant notification and whenever the watch
// opens, closes or fails. Run it on its own goroutine.
func (c *whoisCache) watch(ctx context.Context, lc *local.Client) {
	for ctx.Err() == nil {
		c.watchOnce(ctx, lc)
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
}

func (c *whoisCache) watchOnce(ctx context.Context, lc *local.Client) {
	w, err := lc.WatchIPNBus(ctx, watchOpts)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("WhoIs cache off: cannot watch the node's bus", "err", err)
		}
		return
	}
	defer w.Close()
	c.invalidate()
	c.watchUp.Store(true)
	defer func() {
		c.watchUp.Store(false)
		c.invalidate()
	}()
	for {
		n, err := w.Next()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("WhoIs cache off: the node's bus watch failed", "err", err)
			}
			return
		}
		if affectsWhoIs(&n) {
			c.invalidate()
		}
	}
}

// affectsWhoIs reports whether a notification may change a WhoIs answer:
// anything about peers, user profiles, this node or its state. (Engine
// statistics and the like do not.)
func affectsWhoIs(n *ipn.Notify) bool {
	return n.NetMap != nil || len(n.PeersChanged) > 0 || len(n.PeersRemoved) > 0 ||
		len(n.PeerChangedPatch) > 0 || len(n.UserProfiles) > 0 || n.SelfChange != nil ||
		n.State != nil || n.Prefs != nil || n.LoginFinished != nil || n.ErrMessage != nil ||
		n.InitialStatus != nil
}
