// Package toolset builds the host's tool providers from a configuration:
// the built-in tools, the declarative tools (config `tools:`) and the
// bridged upstreams (config `upstreams:`).
//
// The commands build a Set (New makes every check that needs no network,
// before the tailnet is joined) and hand it to server.New as its
// server.ToolSource; the server calls Start once its node has joined (the
// upstreams start their children and sessions then) and closes the
// providers Start returned when it stops. The server itself knows only
// tools.Provider: it does not build, or import, the providers' packages.
package toolset

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/metrics"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/tools/declared"
	"github.com/tsmcp/tsmcp/internal/upstream"
)

// Set is the configured tool providers, prepared by New and started by
// Start. Its methods are safe for concurrent use.
type Set struct {
	cfg *config.Config

	// secrets is where ${secret:NAME} are looked up (secrets.source);
	// nil when none is configured.
	secrets secrets.Source

	mu       sync.Mutex // guards the fields below
	declared *declared.Provider
	// oauth and state are the host's token store for upstreams with
	// auth (UseOAuth); nil: none.
	oauth   *oauth.Manager
	state   ipn.StateStore
	started bool // Start ran: the providers belong to its caller
	closed  bool
}

// New compiles the declarative tools (templates, patterns, schemas),
// checks that the environment variables upstream headers name are set,
// and creates the per-identity children's directory when a per-identity
// stdio upstream will need it (so that a data directory tsmcp cannot
// write fails now, naming data.dir, rather than at a caller's first
// call). It starts nothing. cfg must have passed config.Validate (Load
// does); log receives the declarative tools' logs (nil discards them).
func New(cfg *config.Config, log *slog.Logger) (*Set, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, src, err := prepare(cfg, log.With(slog.String("log", "tools")))
	if err != nil {
		return nil, err
	}
	if err := prepareIdentitiesDir(cfg); err != nil {
		d.Close()
		return nil, err
	}
	return &Set{cfg: cfg, declared: d, secrets: src}, nil
}

// Check makes New's checks but creates nothing: `tsmcp check` calls it,
// so that check and serve agree and both fail before the tailnet is
// joined.
func Check(cfg *config.Config) error {
	d, _, err := prepare(cfg, nil)
	if err != nil {
		return err
	}
	return d.Close()
}

// prepare opens the secrets source (which reaches nothing until a
// secret is looked up), builds the declarative tools provider (which
// starts nothing until a tool is called) and checks the upstreams'
// headers.
func prepare(cfg *config.Config, log *slog.Logger) (*declared.Provider, secrets.Source, error) {
	var src secrets.Source
	if cfg.Secrets.Source != "" {
		var err error
		if src, err = secrets.Open(cfg.Secrets.Source); err != nil {
			return nil, nil, err
		}
	}
	d, err := declared.New(cfg.Tools, declared.Options{Logger: log, Secrets: src})
	if err != nil {
		return nil, nil, err
	}
	if err := upstream.Check(cfg.Upstreams, nil); err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, src, nil
}

// Start returns the providers: the built-in tools, the declarative tools
// and, when upstreams are configured, the bridge, which starts their
// children and sessions now. log receives the bridge's logs (nil discards
// them); m, when not nil, counts the upstreams' restarts and children.
// The caller closes every provider returned; on an error Start has closed
// them itself. Start may be called once.
func (s *Set) Start(log *slog.Logger, m *metrics.Metrics) ([]tools.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return nil, fmt.Errorf("toolset: Start after Start or Close")
	}
	s.started = true
	ps := []tools.Provider{tools.Builtin{}, s.declared}
	if len(s.cfg.Upstreams) == 0 {
		return ps, nil
	}
	// The built-in and declared tools are known now; an unprefixed
	// upstream's tool of the same name is dropped.
	own, err := tools.Collect(context.Background(), ps)
	if err != nil {
		s.declared.Close()
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := upstream.Options{
		Logger:        log,
		Bounds:        upstream.BoundsFrom(s.cfg.MCP.Limits),
		InputWait:     s.cfg.MCP.Limits.InputWait,
		IdentitiesDir: identitiesDir(s.cfg),
		ReservedTools: tools.Names(own),
		Secrets:       s.secrets,
		OAuth:         s.oauth,
		State:         s.state,
	}
	if m != nil {
		opts.Observer = m
	}
	u, err := upstream.New(s.cfg.Upstreams, opts)
	if err != nil {
		s.declared.Close()
		return nil, err
	}
	return append(ps, u), nil
}

// UseOAuth hands the set the host's token manager and the state store
// that keeps which identity lists each upstream with auth, for Start to
// give the upstreams (upstream.Options.OAuth and State). The host calls
// it, once its node has joined, before Start.
func (s *Set) UseOAuth(m *oauth.Manager, st ipn.StateStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth, s.state = m, st
}

// Close releases what New prepared when Start never ran (after Start, the
// providers are its caller's to close). It is safe to call more than once.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		s.closed = true
		return nil
	}
	s.closed = true
	return s.declared.Close()
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
// (0700) when a per-identity stdio upstream will need it.
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
