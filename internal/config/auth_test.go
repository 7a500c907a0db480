package config

import (
	"fmt"
	"strings"
	"testing"
)

// testCredentialKey is a valid mcp.credential_key (64 hex digits).
var testCredentialKey = strings.Repeat("5e", 32)

func TestValidateAuth(t *testing.T) {
	withAuth := func(c *Config) *Upstream {
		c.MCP.CredentialKey = testCredentialKey
		u := &c.Upstreams[1] // wiki, a url upstream
		u.Auth = &UpstreamAuth{Type: "oauth", ClientID: "tsmcp", ClientSecret: "s3cr3t-client", Scopes: []string{"read", "write"}}
		return u
	}
	for _, tt := range []struct {
		name   string
		mutate func(c *Config)
		want   []string // each "key: problem" substring; nil means valid
	}{
		{name: "oauth with client", mutate: func(c *Config) { withAuth(c) }},
		{name: "oauth dynamic registration", mutate: func(c *Config) { *withAuth(c).Auth = UpstreamAuth{Type: "oauth"} }},
		{name: "explicit per-identity", mutate: func(c *Config) { withAuth(c).Isolation = IsolationPerIdentity }},
		{name: "idle timeout with auth", mutate: func(c *Config) { withAuth(c).IdleTimeout = 5 * 60e9 }},
		{name: "credential key base64", mutate: func(c *Config) {
			withAuth(c)
			c.MCP.CredentialKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
		}},
		{name: "credential key alone", mutate: func(c *Config) { c.MCP.CredentialKey = testCredentialKey }},
		{name: "no credential key", mutate: func(c *Config) { withAuth(c); c.MCP.CredentialKey = "" },
			want: []string{"mcp.credential_key: required when an upstream has auth (upstreams[1])"}},
		{name: "short credential key", mutate: func(c *Config) { withAuth(c); c.MCP.CredentialKey = "not a key!" },
			want: []string{"mcp.credential_key: the credential key is neither"}},
		{name: "credential key of 16 bytes", mutate: func(c *Config) { withAuth(c); c.MCP.CredentialKey = "AAECAwQFBgcICQoLDA0ODw==" },
			want: []string{"mcp.credential_key: the credential key is 16 bytes; it must be 32"}},
		{name: "credential store", mutate: func(c *Config) { withAuth(c); c.MCP.CredentialStore = "kube:tsmcp-credentials" }},
		{name: "replicas with a credential store", mutate: func(c *Config) {
			withAuth(c)
			c.Tailnet.Service = "svc:mcp"
			c.MCP.SessionKey = testCredentialKey
			c.MCP.CredentialStore = "ssm:/tsmcp/credentials"
		}},
		{name: "replicas without a credential store", mutate: func(c *Config) {
			withAuth(c)
			c.Tailnet.Service = "svc:mcp"
			c.MCP.SessionKey = testCredentialKey
		},
			want: []string{"mcp.credential_store: required with tailnet.service when an upstream has auth (upstreams[1])"}},
		{name: "bad credential store", mutate: func(c *Config) { withAuth(c); c.MCP.CredentialStore = "mem:" },
			want: []string{`mcp.credential_store: "mem:": not a credential store`}},
		{name: "shared isolation", mutate: func(c *Config) { withAuth(c).Isolation = IsolationShared },
			want: []string{`upstreams[1].isolation: must not be "shared" with auth`}},
		{name: "no type", mutate: func(c *Config) { withAuth(c).Auth.Type = "" },
			want: []string{`upstreams[1].auth.type: is required ("oauth")`}},
		{name: "other type", mutate: func(c *Config) { withAuth(c).Auth.Type = "basic" },
			want: []string{`upstreams[1].auth.type: "basic" is not "oauth"`}},
		{name: "stdio upstream", mutate: func(c *Config) {
			c.MCP.CredentialKey = testCredentialKey
			c.Upstreams[0].Isolation = ""
			c.Upstreams[0].Auth = &UpstreamAuth{Type: "oauth"}
		}, want: []string{"upstreams[0].auth: only applies to a url upstream"}},
		{name: "secret without id", mutate: func(c *Config) { withAuth(c).Auth.ClientID = "" },
			want: []string{"upstreams[1].auth.client_secret: needs client_id"}},
		{name: "client id with newline", mutate: func(c *Config) { withAuth(c).Auth.ClientID = "a\nb" },
			want: []string{"upstreams[1].auth.client_id: must not contain line breaks or NUL"}},
		{name: "scope with space", mutate: func(c *Config) { withAuth(c).Auth.Scopes = []string{"read write"} },
			want: []string{`upstreams[1].auth.scopes[0]: "read write" is not a scope`}},
		{name: "empty scope", mutate: func(c *Config) { withAuth(c).Auth.Scopes = []string{""} },
			want: []string{`upstreams[1].auth.scopes[0]: "" is not a scope`}},
		{name: "unprefixed", mutate: func(c *Config) { f := false; withAuth(c).Prefix = &f },
			want: []string{"upstreams[1].prefix: false is not supported with auth yet"}},
		{name: "authorization header", mutate: func(c *Config) {
			withAuth(c).Headers = map[string]string{"authorization": "Bearer shared"}
		}, want: []string{"upstreams[1].headers.authorization: must not be set with auth"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := designExample()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q, got none", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestCredentialKeyNeverShown: neither a bad credential key nor a client
// secret appears in a validation error or in Redacted.
func TestCredentialKeyNeverShown(t *testing.T) {
	for _, key := range []string{"s3cr3t-not-a-key", strings.Repeat("s3cr3t", 8), strings.Repeat("5e", 31) + "s3"} {
		c := designExample()
		c.MCP.CredentialKey = key
		c.Upstreams[1].Auth = &UpstreamAuth{Type: "oauth", ClientID: "id", ClientSecret: "cl1ent-s3cr3t\n"}
		err := c.Validate()
		if err == nil {
			t.Fatalf("key %q: no error", key)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	c := designExample()
	c.MCP.CredentialKey = testCredentialKey
	c.Upstreams[1].Auth = &UpstreamAuth{Type: "oauth", ClientID: "id", ClientSecret: "cl1ent-s3cr3t", Scopes: []string{"read"}}
	c.Upstreams = append(c.Upstreams, Upstream{Name: "env", URL: "https://x.example/mcp",
		Auth: &UpstreamAuth{Type: "oauth", ClientID: "id", ClientSecret: `{{env "CLIENT_SECRET"}}`}})
	r := c.Redacted()
	out := fmt.Sprintf("%+v %+v %+v", r.MCP, *r.Upstreams[1].Auth, *r.Upstreams[2].Auth)
	for _, secret := range []string{testCredentialKey, "cl1ent-s3cr3t"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() shows %q: %s", secret, out)
		}
	}
	for _, kept := range []string{"CredentialKey:REDACTED", "ClientSecret:REDACTED", `{{env "CLIENT_SECRET"}}`, "Scopes:[read]"} {
		if !strings.Contains(out, kept) {
			t.Errorf("Redacted() lost %q: %s", kept, out)
		}
	}
	if c.Upstreams[1].Auth.ClientSecret != "cl1ent-s3cr3t" {
		t.Error("Redacted() changed the original")
	}
}
