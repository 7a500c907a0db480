package server

import (
	"log/slog"
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// auditCaller returns the audit attributes that describe the caller.
func auditCaller(id *identity.Identity) slog.Attr {
	if id == nil {
		return slog.Group("caller", slog.String("user", ""), slog.String("node", ""), slog.String("tags", ""))
	}
	return slog.Group("caller",
		slog.String("user", id.LoginName),
		slog.String("node", id.NodeName),
		slog.String("tags", strings.Join(id.Tags, ",")),
		slog.String("ip", id.TailnetIP.String()),
	)
}
