package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/tools/declared"
	"github.com/tsmcp/tsmcp/internal/upstream"
)

// CheckSupported checks what config.Validate cannot without starting
// anything: that every declarative tool compiles (its templates, patterns
// and schema) and that the environment variables upstream headers name are
// set. New makes the same checks; `tsmcp check` calls this, so that check
// and serve agree, and both fail before the tailnet is joined.
func CheckSupported(c *config.Config) error {
	d, err := prepareDeclared(c, nil)
	if err != nil {
		return err
	}
	return d.Close()
}

// prepareDeclared builds the declarative tools provider (which starts
// nothing until a tool is called) and checks the upstreams' headers.
func prepareDeclared(c *config.Config, log *slog.Logger) (*declared.Provider, error) {
	d, err := declared.New(c.Tools, declared.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := upstream.Check(c.Upstreams, nil); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// identitiesDir is where per-identity children get their directories:
// identities/ in the data directory, or "" (a temporary directory) when
// there is none (see config.Config.DataDir).
func identitiesDir(c *config.Config) string {
	if d := c.DataDir(); d != "" {
		return filepath.Join(d, "identities")
	}
	return ""
}

// prepareIdentitiesDir creates the per-identity children's directory
// (0700) when a per-identity stdio upstream will need it, so that a data
// directory tsmcp cannot write is an error at start, before the tailnet
// is joined, rather than at a caller's first call.
func prepareIdentitiesDir(c *config.Config) error {
	dir := identitiesDir(c)
	if dir == "" || !slices.ContainsFunc(c.Upstreams, func(u config.Upstream) bool {
		return u.Isolation == config.IsolationPerIdentity && u.URL == ""
	}) {
		return nil
	}
	err := os.MkdirAll(filepath.Dir(dir), 0o700)
	if err == nil {
		err = upstream.MakePrivateDir(dir)
	}
	if err != nil {
		key := "data.dir"
		if c.Data.Dir == "" {
			key = "data.dir (by default tailnet.state's directory)"
		}
		return fmt.Errorf("%s: per-identity upstreams keep their callers' files there: %w; set data.dir (TSMCP_DATA_DIR, --data-dir) to a directory tsmcp may write", key, err)
	}
	return nil
}

// configProviders returns the tool providers the configuration names: the
// built-in tools, the declarative tools New prepared, and (when
// configured) the bridged upstreams. Upstreams start their children and
// sessions here, so Run calls it only once the node has joined.
func (s *Server) configProviders() ([]tools.Provider, error) {
	ps := []tools.Provider{tools.Builtin{}, s.declared}
	if len(s.cfg.Upstreams) > 0 {
		// The built-in and declared tools are known now; an unprefixed
		// upstream's tool of the same name is dropped.
		own, err := tools.Collect(context.Background(), ps)
		if err != nil {
			s.declared.Close()
			return nil, err
		}
		opts := upstream.Options{
			Logger:        s.log.With(slog.String("log", "upstream")),
			Bounds:        upstream.BoundsFrom(s.cfg.MCP.Limits),
			InputWait:     s.cfg.MCP.Limits.InputWait,
			IdentitiesDir: identitiesDir(s.cfg),
			ReservedTools: tools.Names(own),
		}
		if s.metrics != nil {
			names := make([]string, len(s.cfg.Upstreams))
			for i, u := range s.cfg.Upstreams {
				names[i] = u.Name
			}
			s.metrics.SetUpstreams(names)
			opts.Observer = s.metrics
		}
		u, err := upstream.New(s.cfg.Upstreams, opts)
		if err != nil {
			s.declared.Close()
			return nil, err
		}
		ps = append(ps, u)
	}
	return ps, nil
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
