package server

import (
	"context"
	"errors"
	"fmt"

	"tailscale.com/client/local"
	"tailscale.com/tsnet"

	"github.com/tsmcp/tsmcp/internal/sessions"
	"github.com/tsmcp/tsmcp/internal/statestore"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
	"github.com/tsmcp/tsmcp/internal/whois"
)

// joinTailnet is Run's second phase: it builds the tsnet node, brings it
// up, and restores the record of the sessions ended before a restart
// (sessions.RecordLimit) when the state store keeps one. A false joined means
// Run returns err at once: the join failed, or (with a nil err) ctx was
// cancelled while joining, which is a clean exit logged as "stopped while
// joining the tailnet". It leaves on cleanup the tsnet node (as soon as it
// is built, whether or not the join succeeds) and then the writer of the
// ended sessions record.
func (s *Server) joinTailnet(ctx context.Context, cleanup *cleanups) (node *tsnet.Server, joined bool, err error) {
	node, closeNode, err := s.newNode()
	if err != nil {
		return nil, false, err
	}
	cleanup.add("tsnet node", closeNode)
	if err := s.up(ctx, node); err != nil {
		if ctx.Err() != nil {
			// Stopped (SIGTERM) while joining: a clean exit.
			s.log.Info("stopped while joining the tailnet")
			return nil, false, nil
		}
		return nil, false, err
	}
	if limit := sessions.RecordLimit(statestore.KindOf(s.cfg.Tailnet.State)); limit > 0 {
		// The sessions ended before a restart stay ended.
		s.sessions.RestoreEnded(node.Store, s.log)
		cleanup.add("ended sessions record", s.sessions.StartEndedWriter(node.Store, limit, s.log))
	}
	return node, true, nil
}

// startIdentification is Run's third phase: it gets the joined node's LocalAPI and
// MagicDNS suffix (without which members cannot be told from shared users,
// so its absence is an error), starts the WhoIs cache unless Options.WhoIs
// replaced it, sets the Service listener's WhoIs, and registers the gauges
// that read the node. It leaves the WhoIs cache's watcher on cleanup.
func (s *Server) startIdentification(ctx context.Context, node *tsnet.Server, cleanup *cleanups) (*local.Client, error) {
	lc, err := node.LocalClient()
	if err != nil {
		return nil, fmt.Errorf("tailnet: local client: %w", err)
	}
	st, err := lc.StatusWithoutPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("tailnet: status: %w", err)
	}
	if st.CurrentTailnet == nil || st.CurrentTailnet.MagicDNSSuffix == "" {
		// Without it every caller would count as a member.
		return nil, errors.New("tailnet: the control server sent no MagicDNS suffix; cannot tell members from shared users")
	}
	s.mu.Lock()
	if s.whoisFn == nil {
		s.startWhoIsCacheLocked(node, lc, cleanup)
	}
	s.tailnetSuffix = st.CurrentTailnet.MagicDNSSuffix
	s.lc = lc
	s.setServiceWhoIsLocked()
	s.mu.Unlock()
	s.registerGauges(lc)
	return lc, nil
}

// startWhoIsCacheLocked makes the node's cached WhoIs the host's, and
// watches the node so the cache forgets what changed, and clients are
// told to re-list when the grants change. s.mu must be held. It leaves
// the watcher on cleanup ("WhoIs cache").
func (s *Server) startWhoIsCacheLocked(node *tsnet.Server, lc *local.Client, cleanup *cleanups) {
	cache := whois.New(lc.WhoIs, serviceWhoIs(lc), tsnetx.FilterFunc(node), s.log)
	cache.KeepStale = s.whoisStale
	cache.OnLookup = s.metrics.WhoIsCache
	cleanup.start("WhoIs cache", func(ctx context.Context) { cache.Watch(ctx, lc) })
	s.whoisFn = cache.WhoIs
	s.whoisCache = cache
}
