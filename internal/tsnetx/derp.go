// Package tsnetx holds small helpers around tailscale.com/tsnet shared by
// the host and the in-process tailnet.
package tsnetx

import (
	"context"
	"fmt"
	"time"

	"tailscale.com/tsnet"
)

// WaitHomeDERP blocks until s has chosen its home DERP region and heard from
// it, or ctx ends. Until then the relay drops packets for s, so a peer's
// first connection can stall for seconds on a retransmit.
func WaitHomeDERP(ctx context.Context, s *tsnet.Server) error {
	h := s.Sys().HealthTracker.Get()
	ms := s.Sys().MagicSock.Get()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if r := ms.GetLastNetcheckReport(ctx); r != nil &&
			r.PreferredDERP != 0 &&
			!h.GetDERPRegionReceivedTime(r.PreferredDERP).IsZero() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the home DERP region: %w", ctx.Err())
		case <-t.C:
		}
	}
}
