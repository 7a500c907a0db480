package server

import (
	"log/slog"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// auditCaller returns the audit attributes that describe the caller. Tags
// are a list (empty for a user's node), as whoami shows them.
func auditCaller(id *identity.Identity) slog.Attr {
	if id == nil {
		return slog.Group("caller", slog.String("user", ""), slog.String("node", ""), slog.Any("tags", []string{}))
	}
	tags := id.Tags
	if tags == nil {
		tags = []string{}
	}
	return slog.Group("caller",
		slog.String("user", id.LoginName),
		slog.String("node", id.NodeName),
		slog.Any("tags", tags),
		slog.String("ip", id.TailnetIP.String()),
	)
}
