package tsnetx

import (
	"tailscale.com/tsnet"
	"tailscale.com/wgengine/filter"
)

// PinnedTailscaleVersion is the tailscale.com module version whose
// internals FilterFunc relies on. TestFilterFuncPinned fails when the
// module moves, so that the reliance is re-checked.
const PinnedTailscaleVersion = "v1.102.5"

// FilterFunc returns a function that reports s's current packet filter.
// Every filter update the node receives from control (a grant change
// arrives as a MapResponse carrying only PacketFilters, with no IPN bus
// notification) installs a new *filter.Filter, and WhoIs computes a
// peer's app capabilities from it; so a change of this pointer means
// cached WhoIs answers may be stale.
//
// It uses s.Sys(), which tsnet documents as not a stable API; see
// PinnedTailscaleVersion. s must be started (Up) before the returned
// function is called.
func FilterFunc(s *tsnet.Server) func() *filter.Filter {
	eng := s.Sys().Engine.Get()
	return eng.GetFilter
}
