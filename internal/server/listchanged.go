package server

import (
	"context"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"tailscale.com/wgengine/filter"
)

// What a caller may see in the lists is decided per request by the policy
// and the caller's grants, so it changes without any list changing: on a
// policy reload (Reload) and when the tailnet's grants reach the node
// (watchGrants). Clients that cache lists (mcp.list_ttl) or never re-list
// learn of it by notifications/{tools,prompts,resources}/list_changed,
// sent to every connected session: the notification carries nothing, and
// each client re-lists under its own identity. (A provider's changed
// lists are notified where they are collected: providers.go, prompts.go,
// subscriptions.go.)

// grantsPoll is how often watchGrants looks at the engine's packet
// filter. A grant change reaches the node as a MapResponse carrying only
// PacketFilters, which sends no notification anyone can wait on; looking
// is one pointer comparison.
const grantsPoll = time.Second

// listsChanged asks the notifier (notifyLists) to send list_changed to
// every session. It never blocks; changes close together are sent once.
func (s *Server) listsChanged() {
	select {
	case s.listsDirty <- struct{}{}:
	default:
	}
}

// notifyLists sends notifications/tools/list_changed (and the prompts and
// resources ones, for the kinds served) to every session of m each time
// listsChanged is called, until ctx ends.
func (s *Server) notifyLists(ctx context.Context, m *server.MCPServer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.listsDirty:
		}
		m.SendNotificationToAllClients(mcp.MethodNotificationToolsListChanged, nil)
		if s.promptsDirty != nil {
			m.SendNotificationToAllClients(mcp.MethodNotificationPromptsListChanged, nil)
		}
		if s.res != nil {
			m.SendNotificationToAllClients(mcp.MethodNotificationResourcesListChanged, nil)
		}
		s.log.Debug("list_changed sent to connected clients")
	}
}

// watchGrants calls listsChanged each time the engine's packet filter
// (current reports it) is replaced, until ctx ends: the node's grants,
// and so its callers' capabilities, may have changed. The filter is
// replaced only when its inputs change (tailscale's updateFilterLocked).
func (s *Server) watchGrants(ctx context.Context, current func() *filter.Filter) {
	last := current()
	t := time.NewTicker(grantsPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if f := current(); f != last {
			last = f
			s.log.Info("tailnet grants may have changed; telling clients to re-list")
			s.listsChanged()
		}
	}
}
