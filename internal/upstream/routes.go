package upstream

import (
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// hooks are the session's part in its connection: the capabilities tsmcp
// declares, and the handlers of what the upstream sends on its own (see
// routeCalls). poke asks the supervisor for a re-listing.
func (s *session) hooks(poke func()) conn.Hooks {
	return conn.Hooks{
		Capabilities: upstreamCapabilities(s.roots != nil),
		Attach:       func(log *slog.Logger) conn.Handlers { return s.routeCalls(log, poke) },
	}
}

// routeCalls returns the handlers that take what the upstream sends about
// calls in flight to the callers (see router): progress notifications by
// their token, log messages by attribution; its requests are answered by
// serveRequests. notifications/tools/list_changed pokes. log gets what
// belongs to no call.
func (s *session) routeCalls(log *slog.Logger, poke func()) conn.Handlers {
	logs := conn.NewLogLimiter(log, "log")
	return conn.Handlers{
		Request: s.serveRequests(log),
		Notification: func(n mcp.JSONRPCNotification) {
			switch n.Method {
			case string(mcp.MethodNotificationToolsListChanged):
				poke()
			case string(mcp.MethodNotificationMessage):
				s.logMessage(n.Params.AdditionalFields, logs)
			case string(mcp.MethodNotificationElicitationComplete):
				s.elicits.complete(n.Params.AdditionalFields, logs)
			case mcp.MethodNotificationTasksStatus:
				if !s.tasks.deliver(n.Params.AdditionalFields) {
					log.Debug("task status of a task not (yet) created through tsmcp held back")
				}
			case string(mcp.MethodNotificationProgress):
				if f := s.routes.byProgressToken(n.Params.AdditionalFields["progressToken"]); f != nil {
					f.progress(n.Params.AdditionalFields)
				}
			}
		},
	}
}
