package server

import (
	"maps"
	"slices"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// ToolNames returns the names of the tools the host serves now, before
// any caller's access is decided, sorted; bridged tools are among them
// once their upstream has listed them. Nil before Ready.
func (s *Server) ToolNames() []string {
	select {
	case <-s.readyCh:
	default:
		return nil
	}
	return slices.Sorted(maps.Keys(s.mcp.ListTools()))
}

// UpstreamStatus returns the state of each bridged upstream, as /readyz
// lists them. Nil before Ready.
func (s *Server) UpstreamStatus() []tools.Status {
	select {
	case <-s.readyCh:
	default:
		return nil
	}
	var out []tools.Status
	for _, p := range s.providers {
		if r, ok := p.(tools.StatusReporter); ok {
			out = append(out, r.Status()...)
		}
	}
	return out
}
