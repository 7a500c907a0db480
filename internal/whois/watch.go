package whois

import (
	"context"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
)

// watchOpts are the IPN bus notifications the cache watches: peer and
// profile changes without full netmaps, and never rate-limited.
const watchOpts = ipn.NotifyPeerChanges | ipn.NotifyNoNetMap

// watchRetry is the pause before the bus watch is reopened after a
// failure; the cache is bypassed meanwhile.
const watchRetry = time.Second

// Watch keeps the IPN bus watch of lc open until ctx ends, invalidating
// the cache on every relevant notification and whenever the watch opens,
// closes or fails. The cache answers from memory only while the watch is
// open. Run it on its own goroutine.
func (c *Cache) Watch(ctx context.Context, lc *local.Client) {
	for ctx.Err() == nil {
		c.watchOnce(ctx, lc)
		select {
		case <-ctx.Done():
		case <-time.After(watchRetry):
		}
	}
}

func (c *Cache) watchOnce(ctx context.Context, lc *local.Client) {
	w, err := lc.WatchIPNBus(ctx, watchOpts)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("WhoIs cache off: cannot watch the node's bus", "err", err)
		}
		return
	}
	defer w.Close()
	c.Invalidate()
	c.watchUp.Store(true)
	defer func() {
		c.watchUp.Store(false)
		c.Invalidate()
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
			c.Invalidate()
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
