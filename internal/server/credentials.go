package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"tailscale.com/ipn"
	"tailscale.com/ipn/store"
	"tailscale.com/tsnet"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/credstore"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/statestore"
)

// Upstreams with auth (config upstreams[].auth) act as each caller: the
// host owns the OAuth manager (internal/oauth) that keeps every
// identity's tokens, sealed with mcp.credential_key, in the node's state
// store, and serves the pages of the flow (connect.go): /connect/<name>
// starts it, /oauth/callback finishes it for the identity that started
// it, and the identity page's Connections section shows and ends each
// connection. The bridge (internal/upstream) sends each caller's requests
// with that caller's own token and answers a caller without one with the
// connect link; the host decides who may connect (the policy, at every
// connect and every call).

// oauthSource is a ToolSource that takes the host's token manager before
// Start (toolset.Set).
type oauthSource interface {
	UseOAuth(m *oauth.Manager, st ipn.StateStore)
}

// credentialed is the provider of upstreams with auth
// (upstream.Provider).
type credentialed interface {
	// AuthUpstream returns the upstream with auth named name, whether
	// its tools are prefixed, and the served names of its tools now.
	AuthUpstream(name string) (up oauth.Upstream, prefixed bool, tools []string, ok bool)
	// AuthUpstreams returns the names of the upstreams with auth.
	AuthUpstreams() []string
	// Connected and Disconnected tell it that an identity (by credential
	// key) now holds, or no longer holds, a token for an upstream.
	Connected(upstream, key string)
	Disconnected(upstream, key string)
}

// credentials is the host's side of upstreams with auth; nil when none
// is configured.
type credentials struct {
	m  *oauth.Manager
	st ipn.StateStore
	// ups is the provider of the upstreams with auth; set once the
	// providers started (before ready), read-only afterwards.
	ups credentialed
}

// hasAuth reports whether an upstream of cfg has auth.
func hasAuth(cfg *config.Config) bool {
	for _, u := range cfg.Upstreams {
		if u.Auth != nil {
			return true
		}
	}
	return false
}

// credentialStoreWait bounds opening mcp.credential_store (a Kubernetes
// Secret or SSM must answer).
const credentialStoreWait = 30 * time.Second

// startCredentials builds the OAuth manager when an upstream has auth,
// once the node has joined (the redirect and connect URLs carry its
// MagicDNS name): tokens go to mcp.credential_store, which replicas
// share, or else to the node's state store (a directory, by default, or
// mem: in tests; with kube: or SSM state, which a replica caches per
// process and SSM bounds to 8 KB, to a file in data.dir instead), and the
// tool source gets the manager.
func (s *Server) startCredentials(node *tsnet.Server) error {
	if !hasAuth(s.cfg) {
		return nil
	}
	key, err := oauth.ParseKey(s.cfg.MCP.CredentialKey)
	if err != nil {
		return fmt.Errorf("mcp.credential_key: %v", err)
	}
	st := node.Store
	switch {
	case s.cfg.MCP.CredentialStore != "":
		ctx, cancel := context.WithTimeout(context.Background(), credentialStoreWait)
		defer cancel()
		if st, err = credstore.Open(ctx, s.cfg.MCP.CredentialStore); err != nil {
			return fmt.Errorf("mcp.credential_store: %w", err)
		}
	case statestore.KindOf(s.cfg.Tailnet.State) == statestore.Kube, statestore.KindOf(s.cfg.Tailnet.State) == statestore.SSM:
		dir := s.cfg.DataDir()
		if dir == "" {
			return errors.New("upstreams with auth need data.dir with kube: or SSM state (tokens are kept in a file there)")
		}
		if st, err = store.New(func(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...), "log", "oauth-store") }, filepath.Join(dir, "oauth-tokens.state")); err != nil {
			return fmt.Errorf("data.dir: the token store: %w", err)
		}
		s.log.Warn("with kube: or SSM node state and no mcp.credential_store, upstream tokens are kept in data.dir, on this replica only")
	}
	if st == nil {
		return errors.New("upstreams with auth: the node has no state store")
	}
	ts, err := oauth.NewStore(st, key)
	if err != nil {
		return err
	}
	host := s.fqdn
	if host == "" {
		host = s.shortName
	}
	base := "http://" + host
	m, err := oauth.NewManager(oauth.Config{
		Store:             ts,
		RedirectURL:       base + callbackPath,
		AllowHTTPRedirect: true,
		ConnectURL:        func(up string) string { return base + connectPrefix + url.PathEscape(up) },
		Logger:            s.log.With("log", "oauth"),
		Observe:           s.observeOAuth,
	})
	if err != nil {
		return err
	}
	s.creds = &credentials{m: m, st: st}
	if src, ok := s.toolSrc.(oauthSource); ok {
		src.UseOAuth(m, st)
	}
	s.log.Info("upstreams with auth act as each caller", "redirect_url", base+callbackPath)
	return nil
}

// findCredentialed remembers the provider of the upstreams with auth,
// once the providers started.
func (s *Server) findCredentialed() {
	if s.creds == nil {
		return
	}
	for _, p := range s.providers {
		if c, ok := p.(credentialed); ok {
			s.creds.ups = c
			return
		}
	}
}

// authUpstream returns the upstream with auth named name, if id may use
// it: the policy allows id some tool of it (acl.DecideUpstream).
func (s *Server) authUpstream(id *identity.Identity, name string) (oauth.Upstream, bool) {
	if s.creds == nil || s.creds.ups == nil {
		return oauth.Upstream{}, false
	}
	up, prefixed, tools, ok := s.creds.ups.AuthUpstream(name)
	if !ok {
		return oauth.Upstream{}, false
	}
	if d := s.policy.Load().DecideUpstream(id, name, prefixed, tools); !d.Allow {
		return oauth.Upstream{}, false
	}
	return up, true
}

// Paths of the OAuth flow on the tailnet listener.
const (
	connectPrefix = "/connect/"
	callbackPath  = "/oauth/callback"
)

// noStore sets the headers of a page about one caller.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
