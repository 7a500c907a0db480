package server

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
)

// RootsWatcher is a provider whose servers ask callers for their roots
// (the bridged per-identity upstreams): it is told when a caller's roots
// change, and keeps that news within the caller's identity.
type RootsWatcher interface {
	// RootsChanged takes a caller's notifications/roots/list_changed;
	// ctx is the notification's handler context (the caller's identity
	// and MCP session). It must not block.
	RootsChanged(ctx context.Context)
}

// rootsChanged handles a caller's notifications/roots/list_changed: the
// providers that watch roots are told.
func (s *Server) rootsChanged(ctx context.Context, _ mcp.JSONRPCNotification) {
	for _, p := range s.providers {
		if w, ok := p.(RootsWatcher); ok {
			w.RootsChanged(ctx)
		}
	}
}
