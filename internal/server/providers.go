package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// ToolSource supplies the host's tool providers. The commands build one
// from the configuration (internal/toolset); tests and benchmarks may use
// Providers. Run calls Start once, after joining the tailnet, and closes
// every provider Start returned when it stops; Close releases a source
// whose Start never ran (Server.Close and a failed Run call it) and must
// be safe to call more than once and after Start.
type ToolSource interface {
	// Start returns the providers, starting what they run (upstreams'
	// children and sessions). log receives their logs; m, when not nil,
	// counts upstreams' restarts and children. On an error Start has
	// closed whatever it built.
	Start(log *slog.Logger, m *metrics.Metrics) ([]tools.Provider, error)
	// Close releases the source when Start never ran.
	Close() error
}

// Providers returns a ToolSource of fixed providers, which Start returns
// as they are (Close does nothing: the host closes them once started).
func Providers(ps ...tools.Provider) ToolSource { return fixedProviders(ps) }

type fixedProviders []tools.Provider

func (f fixedProviders) Start(*slog.Logger, *metrics.Metrics) ([]tools.Provider, error) {
	return f, nil
}

func (fixedProviders) Close() error { return nil }

// startProviders builds the providers from the host's ToolSource (only the
// built-in tools when there is none) and tells the metrics the upstreams'
// names (and the token manager's count of connected identities). Upstreams start their children and sessions here, so Run calls it
// only once the node has joined.
func (s *Server) startProviders() ([]tools.Provider, error) {
	if s.toolSrc == nil {
		return []tools.Provider{tools.Builtin{}}, nil
	}
	if s.metrics != nil && len(s.cfg.Upstreams) > 0 {
		names := make([]string, len(s.cfg.Upstreams))
		for i, u := range s.cfg.Upstreams {
			names[i] = u.Name
		}
		s.metrics.SetUpstreams(names)
		if s.creds != nil {
			s.metrics.SetOAuth(authUpstreamNames(s.cfg), s.creds.m.ConnectedIdentities)
		}
	}
	return s.toolSrc.Start(s.log.With(slog.String("log", "upstream")), s.metrics)
}

// refreshTimeout bounds one re-collection of the tools after a provider
// reported a change.
const refreshTimeout = 10 * time.Second

// watchProviders subscribes to the providers whose tools change at run
// time. It must run before the first Collect (see tools.Notifier).
func (s *Server) watchProviders() {
	for _, p := range s.providers {
		if n, ok := p.(tools.Notifier); ok {
			n.OnToolsChanged(s.toolsChanged)
		}
	}
}

// toolsChanged is the providers' change callback: it asks the refresher
// goroutine to re-collect the tools. It never blocks; changes that arrive
// while a refresh is pending are folded into it.
func (s *Server) toolsChanged() {
	select {
	case s.toolsDirty <- struct{}{}:
	default:
	}
}

// refreshTools re-collects the tools whenever a provider reports a change,
// swaps the host's tool set, and has mcp-go send
// notifications/tools/list_changed to connected clients. It returns when
// ctx ends.
func (s *Server) refreshTools(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.toolsDirty:
		}
		cctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		ts, err := tools.Collect(cctx, s.providers)
		cancel()
		if err != nil {
			// Keep serving the previous set; the provider will
			// report its next change.
			s.log.Error("tools changed but could not be collected; keeping the previous set", "error", err)
			continue
		}
		s.mcp.SetTools(s.withNotUpTool(ts)...)
		s.setMetricNames(ts)
		s.log.Info("tools changed", "tools", len(ts))
	}
}

// readiness writes the parts of providers that can be up or down on their
// own (upstreams), one line each, for /readyz, and reports whether one of
// them has never come up. A part that is down after having been up never
// makes the host unready: its other tools still serve.
func (s *Server) readiness(b *strings.Builder) (neverUp bool) {
	for _, st := range s.partStatus() {
		state := "up"
		if !st.Up {
			state = "down"
		}
		fmt.Fprintf(b, "upstream %s: %s", st.Name, state)
		if st.Detail != "" {
			fmt.Fprintf(b, " (%s)", st.Detail)
		}
		b.WriteString("\n")
		neverUp = neverUp || !st.EverUp
	}
	return neverUp
}

// partStatus returns the status of every part of the providers that can be
// up or down on its own (upstreams), in the providers' order.
func (s *Server) partStatus() []tools.Status {
	var out []tools.Status
	for _, p := range s.providers {
		if r, ok := p.(tools.StatusReporter); ok {
			out = append(out, r.Status()...)
		}
	}
	return out
}
