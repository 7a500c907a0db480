package server

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// What a caller may see in the lists is decided per request by the policy
// and the caller's grants, so it changes without any list changing. On a
// policy reload (Reload), clients that cache lists (mcp.list_ttl) or never
// re-list learn of it by notifications/{tools,prompts,resources}/list_changed,
// sent to every connected session: the notification carries nothing, and
// each client re-lists under its own identity. A change of grants is not
// notified: the node learns of it only as a new packet filter, which is
// also replaced whenever a node joins or leaves the tailnet, so notifying
// every session on each one would make every client re-list on every
// join (and answer a fresh session's notifications/initialized with a
// stream instead of 202). It applies at the next list or use; a cached
// list may show a revoked tool until its ttlMs passes, and a call is
// decided again anyway. (A provider's changed
// lists are notified where they are collected: providers.go, prompts.go,
// subscriptions.go.)

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
