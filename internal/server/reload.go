package server

import (
	"log/slog"
	"reflect"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
)

// Reload applies a changed configuration to the running host. The access
// policy (the acl section) is swapped atomically: the next tools/list and
// tools/call, in open sessions too, are decided by the new policy, and
// every open session is sent list_changed (listchanged.go). The other
// sections are fixed at start-up: a change to them is logged as
// needing a restart and otherwise ignored.
//
// cfg comes from config.Load, which validated it; of it Reload uses only
// the acl section, and an invalid one changes nothing (the error says
// why). Reload is safe to call at any time, from any goroutine.
func (s *Server) Reload(cfg *config.Config) error {
	policy, err := acl.New(cfg.ACL)
	if err != nil {
		return err
	}
	var restart []string
	for _, sec := range []struct {
		name     string
		old, new any
	}{
		{"tailnet", s.cfg.Tailnet, cfg.Tailnet},
		{"health", s.cfg.Health, cfg.Health},
		{"mcp", s.cfg.MCP, cfg.MCP},
		{"tools", s.cfg.Tools, cfg.Tools},
		{"upstreams", s.cfg.Upstreams, cfg.Upstreams},
		{"data", s.cfg.Data, cfg.Data},
	} {
		if !reflect.DeepEqual(sec.old, sec.new) {
			restart = append(restart, sec.name)
		}
	}
	if len(restart) > 0 {
		s.log.Warn("config changed in sections that apply only at start-up; restart tsmcp to apply them",
			slog.Any("sections", restart))
	}
	s.policy.Store(policy)
	s.listsChanged() // listchanged.go
	s.log.Info("access policy reloaded",
		slog.Int("rules", len(cfg.ACL.Rules)),
		slog.Int("groups", len(cfg.ACL.Groups)),
		slog.String("capability", policy.Capability()))
	return nil
}
