package upstream

import (
	"log/slog"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// routeCalls wires what the upstream sends about calls in flight to the
// callers (see router): progress notifications by their token, log
// messages by attribution; and answers its requests (see serveRequests).
// log gets what belongs to no call.
func (s *session) routeCalls(tr transport.Interface, log *slog.Logger) {
	s.serveRequests(tr, log)
	logs := newLogLimiter(log, "log")
	s.client.OnNotification(func(n mcp.JSONRPCNotification) {
		switch n.Method {
		case string(mcp.MethodNotificationMessage):
			s.logMessage(n.Params.AdditionalFields, logs)
		case string(mcp.MethodNotificationElicitationComplete):
			s.elicits.complete(n.Params.AdditionalFields, logs)
		case string(mcp.MethodNotificationProgress):
			if f := s.routes.byProgressToken(n.Params.AdditionalFields["progressToken"]); f != nil {
				f.progress(n.Params.AdditionalFields)
			}
		}
	})
}
