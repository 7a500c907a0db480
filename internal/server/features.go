package server

import (
	"context"

	"github.com/mark3labs/mcp-go/server"
)

// featureOptions returns the mcp-go options (and registers the hooks) that
// serve the providers' prompts, resources and completions; none when no
// provider supplies them.
func (s *Server) featureOptions(hooks *server.Hooks) []server.ServerOption {
	var opts []server.ServerOption
	opts = append(opts, s.resourceOptions(hooks)...)
	opts = append(opts, s.promptOptions(hooks)...)
	opts = append(opts, s.completionOptions()...)
	return opts
}

// startFeatures loads the prompts into m, registers the resource read
// route, and starts the prompt refresher and the resource update delivery.
// The returned function stops them and waits.
func (s *Server) startFeatures(ctx context.Context, m *server.MCPServer) func() error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var running []chan struct{}
	goFunc := func(f func()) {
		done := make(chan struct{})
		running = append(running, done)
		go func() {
			defer close(done)
			f()
		}()
	}
	if s.promptsDirty != nil {
		if ps := s.collectPrompts(ctx); len(ps) > 0 {
			m.SetPrompts(ps...)
			s.setPromptNames(ps)
		}
		goFunc(func() { s.refreshPrompts(ctx, m) })
	}
	if s.res != nil {
		s.registerResources(m)
		goFunc(func() { s.deliverUpdates(ctx, m) })
	}
	return func() error {
		cancel()
		for _, done := range running {
			<-done
		}
		return nil
	}
}
