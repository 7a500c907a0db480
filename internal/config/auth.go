package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tsmcp/tsmcp/internal/credstore"
	"github.com/tsmcp/tsmcp/internal/oauth"
)

// AuthTypeOAuth is the only UpstreamAuth.Type: tsmcp is an OAuth 2.1
// client of the upstream per caller identity.
const AuthTypeOAuth = "oauth"

// maxAuthScopes bounds upstreams[].auth.scopes.
const maxAuthScopes = 64

// UpstreamAuth is how a url upstream authorizes each caller
// (upstreams[].auth): tsmcp follows the MCP authorization specification
// as an OAuth client of the upstream, one token per tailnet identity,
// sealed with mcp.credential_key in the node's state.
type UpstreamAuth struct {
	// Type is "oauth". Empty is invalid.
	Type string `mapstructure:"type"`
	// ClientID is a client registered with the upstream's authorization
	// server for tsmcp's redirect URL (http://<host>/oauth/callback).
	// Empty means dynamic client registration (RFC 7591), where the
	// authorization server offers it.
	ClientID string `mapstructure:"client_id"`
	// ClientSecret is ClientID's secret; it may be written as
	// {{env "NAME"}}. A secret: never logged or printed (Redacted). Empty
	// means a public client (PKCE only).
	ClientSecret string `mapstructure:"client_secret"`
	// Scopes are asked for when neither the upstream's challenge nor its
	// protected resource metadata names any. Nil means no scope
	// parameter then.
	Scopes []string `mapstructure:"scopes"`
}

// redacted returns a copy of a safe to print (nil for nil).
func (a *UpstreamAuth) redacted() *UpstreamAuth {
	if a == nil {
		return nil
	}
	r := *a
	r.Scopes = slices.Clone(a.Scopes)
	if r.ClientSecret != "" && !isEnvTemplate(r.ClientSecret) {
		r.ClientSecret = redacted
	}
	return &r
}

// isEnvTemplate reports whether s only names an environment variable
// ({{env "NAME"}}), holding no secret itself.
func isEnvTemplate(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") && strings.Count(s, "{{") == 1
}

// IsPerIdentity reports whether each caller gets its own child or
// session: isolation per-identity, or auth (a caller's token is only
// ever sent on that caller's own session).
func (u Upstream) IsPerIdentity() bool {
	return u.Isolation == IsolationPerIdentity || u.Auth != nil
}

// validateAuth checks mcp.credential_key and every upstreams[].auth:
// auth only on url upstreams, never with isolation shared, and a valid
// credential key whenever an upstream has auth. The key's value never
// appears in an error.
func validateAuth(p *problems, credentialKey, credentialStore, service string, ups []Upstream) {
	withAuth := -1
	for i, u := range ups {
		if u.Auth == nil {
			continue
		}
		if withAuth < 0 {
			withAuth = i
		}
		key := fmt.Sprintf("upstreams[%d].auth", i)
		a := u.Auth
		switch a.Type {
		case AuthTypeOAuth:
		case "":
			p.addf(key+".type", "is required (%q)", AuthTypeOAuth)
		default:
			p.addf(key+".type", "%q is not %q (the only type)", a.Type, AuthTypeOAuth)
		}
		if u.URL == "" {
			p.addf(key, "only applies to a url upstream (a stdio server gets per-caller secrets through env)")
		}
		if !u.Prefixed() {
			p.addf(fmt.Sprintf("upstreams[%d].prefix", i), "false is not supported with auth yet: who may connect is decided on the %s__ prefix before any tool is known", u.Name)
		}
		if u.Isolation == IsolationShared {
			p.addf(fmt.Sprintf("upstreams[%d].isolation", i), "must not be %q with auth: each caller's token is only sent on that caller's own session (leave it empty or per-identity)", IsolationShared)
		}
		for name := range u.Headers {
			if strings.EqualFold(name, "Authorization") {
				p.addf(fmt.Sprintf("upstreams[%d].headers.%s", i, name), "must not be set with auth: each caller's own token is the Authorization")
			}
		}
		if a.ClientSecret != "" && a.ClientID == "" {
			p.addf(key+".client_secret", "needs client_id")
		}
		if strings.ContainsAny(a.ClientID, "\r\n\x00") {
			p.addf(key+".client_id", "must not contain line breaks or NUL")
		}
		if strings.ContainsAny(a.ClientSecret, "\r\n\x00") {
			p.addf(key+".client_secret", "must not contain line breaks or NUL")
		}
		if len(a.Scopes) > maxAuthScopes {
			p.addf(key+".scopes", "has %d scopes, more than %d", len(a.Scopes), maxAuthScopes)
		}
		for j, s := range a.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\x00\"\\") {
				p.addf(fmt.Sprintf("%s.scopes[%d]", key, j), "%q is not a scope (no spaces, quotes or backslashes)", s)
			}
		}
	}
	switch {
	case withAuth >= 0 && strings.TrimSpace(credentialKey) == "":
		p.addf("mcp.credential_key", "required when an upstream has auth (upstreams[%d]): callers' tokens are sealed with it; generate one with `openssl rand -base64 32`", withAuth)
	case credentialKey != "":
		if _, err := oauth.ParseKey(credentialKey); err != nil {
			p.addf("mcp.credential_key", "%v", err)
		}
	}
	switch {
	case credentialStore != "":
		if _, err := credstore.Parse(credentialStore); err != nil {
			p.addf("mcp.credential_store", "%v", err)
		}
	case withAuth >= 0 && service != "":
		p.addf("mcp.credential_store", "required with tailnet.service when an upstream has auth (upstreams[%d]): replicas share callers' tokens only through it (dir:<shared path>, kube:<secret> or ssm:<path>)", withAuth)
	}
}
