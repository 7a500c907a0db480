package server

import (
	"context"
	"time"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// loadTools is Run's fourth phase: it starts the providers of
// Options.Tools (startProviders), watches them for changes,
// collects their tools and names them for the metrics. It leaves every
// provider on cleanup, even when collecting fails halfway, so each is
// closed whatever happens.
func (s *Server) loadTools(ctx context.Context, cleanup *cleanups) ([]tools.Tool, error) {
	ps, err := s.startProviders()
	if err != nil {
		return nil, err
	}
	s.providers = ps
	for _, p := range s.providers {
		cleanup.add("tools from "+p.Name(), p.Close)
	}
	s.watchProviders()
	s.findCredentialed()
	ts, err := tools.Collect(ctx, s.providers)
	if err != nil {
		return nil, err
	}
	s.setMetricNames(ts)
	var prefixes []string
	for _, u := range s.cfg.Upstreams {
		prefixes = append(prefixes, u.Name+"+")
	}
	s.metrics.SetNames("resource", prefixes)
	return ts, nil
}

// startMCP is Run's fifth phase: it builds the MCP server for the tools
// ts, starts the bridged prompts and resources, the tool refresher and
// the unused-session reaper, and sets the Streamable HTTP and SSE
// transports that the tailnet listeners serve. It leaves on cleanup, in
// this order, the prompts and resources, the tool refresher, the reaper
// and the MCP sessions (which, on an error path, also stops mcp-go's
// idle-session sweeper).
func (s *Server) startMCP(ctx context.Context, ts []tools.Tool, cleanup *cleanups) {
	m := s.newMCPServer(ts)
	cleanup.add("prompts and resources", s.startFeatures(ctx, m))
	cleanup.start("tool refresher", s.refreshTools)
	cleanup.start("list notifier", func(ctx context.Context) { s.notifyLists(ctx, m) })
	s.streamable = s.newStreamable(m)
	s.sse = s.newSSE(m)
	cleanup.add("unused-session reaper", s.startReaper())
	cleanup.add("MCP sessions", func() error {
		// After a drain this finds nothing left; on an error path it
		// stops mcp-go's idle-session sweeper.
		s.sessions.Stop()
		s.sse.CloseSessions()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.streamable.Shutdown(ctx)
	})
}
