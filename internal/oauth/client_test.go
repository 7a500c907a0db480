package oauth

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestTokenEndpointAuth: the token endpoint authentication follows the
// client and the server's token_endpoint_auth_methods_supported.
func TestTokenEndpointAuth(t *testing.T) {
	for _, tc := range []struct {
		name         string
		methods      []string // supported; nil: absent
		clientID     string   // pre-registered; "": dynamic
		secret       string
		registration string // what a dynamic registration assigns ("": as asked)
		want         string
	}{
		{name: "pre-registered basic", methods: []string{authBasic, authPost}, clientID: "pre", secret: "s3cret", want: authBasic},
		{name: "pre-registered post only", methods: []string{authPost}, clientID: "pre", secret: "s3cret", want: authPost},
		{name: "pre-registered none only", methods: []string{authNone}, clientID: "pre", secret: "s3cret", want: authNone},
		{name: "pre-registered methods absent", clientID: "pre", secret: "s3cret", want: authBasic},
		{name: "pre-registered public", methods: []string{authBasic}, clientID: "pre", want: authNone},
		{name: "dynamic basic", methods: []string{authBasic}, want: authBasic},
		{name: "dynamic post", methods: []string{authPost}, want: authPost},
		{name: "dynamic none", methods: []string{authNone}, want: authNone},
		{name: "dynamic as assigned", methods: []string{authBasic, authPost}, registration: authPost, want: authPost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.up.ClientID, e.up.ClientSecret = tc.clientID, tc.secret
			e.as.set(func(f *fakeAS) {
				f.authMethods, f.registrationMethod = tc.methods, tc.registration
				if tc.methods == nil {
					f.md["token_endpoint_auth_methods_supported"] = nil
				}
				if tc.clientID != "" && tc.secret != "" {
					f.clients[tc.clientID] = tc.secret
				}
			})
			e.connect(t, "alice")
			if got := e.as.tokenAuth; len(got) != 1 || got[0] != tc.want {
				t.Errorf("token endpoint authentication %v, want %s", got, tc.want)
			}
		})
	}
}

// TestClientChoice: a pre-registered client comes first, then a Client ID
// Metadata Document where the server accepts them, then a dynamic
// registration (made once and reused by every identity and by a manager
// sharing the store); with none of them Start says to configure a client.
func TestClientChoice(t *testing.T) {
	const cimd = "https://tsmcp.example.com/oauth/client.json"
	clientID := func(t *testing.T, e *env) string {
		t.Helper()
		a, err := e.m.Start(context.Background(), "alice", &e.up)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(a.URL)
		return u.Query().Get("client_id")
	}
	withCIMD := func(c *Config) { c.ClientMetadataURL = cimd }
	t.Run("pre-registered first", func(t *testing.T) {
		e := newEnv(t, withCIMD)
		e.up.ClientID = "pre"
		e.as.set(func(f *fakeAS) { f.md["client_id_metadata_document_supported"] = true })
		if got := clientID(t, e); got != "pre" {
			t.Errorf("client_id %q, want the pre-registered one", got)
		}
	})
	t.Run("metadata document", func(t *testing.T) {
		e := newEnv(t, withCIMD)
		e.as.set(func(f *fakeAS) { f.md["client_id_metadata_document_supported"] = true })
		if got := clientID(t, e); got != cimd {
			t.Errorf("client_id %q, want the metadata document URL", got)
		}
		if e.as.registrations != 0 {
			t.Error("registered dynamically although a metadata document was usable")
		}
		e.connect(t, "alice")
		if e.as.tokenAuth[0] != authNone {
			t.Errorf("a metadata-document client authenticated with %s", e.as.tokenAuth[0])
		}
	})
	t.Run("dynamic when the server takes no metadata documents", func(t *testing.T) {
		e := newEnv(t, withCIMD)
		if got := clientID(t, e); !strings.HasPrefix(got, "dyn-") {
			t.Errorf("client_id %q, want a dynamic registration", got)
		}
	})
	t.Run("dynamic registration reused", func(t *testing.T) {
		e := newEnv(t)
		e.connect(t, "alice")
		e.connect(t, "bob")
		m2, err := NewManager(Config{Store: e.store, RedirectURL: redirectURL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m2.Start(context.Background(), "carol", &e.up); err != nil {
			t.Fatal(err)
		}
		if e.as.registrations != 1 {
			t.Errorf("%d registrations, want 1", e.as.registrations)
		}
	})
	t.Run("no way to be a client", func(t *testing.T) {
		e := newEnv(t)
		e.as.set(func(f *fakeAS) {
			f.md["registration_endpoint"] = nil
			f.md["client_id_metadata_document_supported"] = true
		})
		_, err := e.m.Start(context.Background(), "alice", &e.up)
		if err == nil || !strings.Contains(err.Error(), "configure a client_id") || !strings.Contains(err.Error(), "none is configured") {
			t.Errorf("Start: %v, want an error saying to configure a client", err)
		}
	})
}

// TestClientMetadataDocument: the document names its own URL as client_id
// and the redirect URI, as the MCP specification requires.
func TestClientMetadataDocument(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ClientMetadataURL = "https://h.example.com/client.json" })
	d := e.m.ClientMetadataDocument()
	if d["client_id"] != "https://h.example.com/client.json" || d["redirect_uris"].([]string)[0] != redirectURL || d["client_name"] == "" {
		t.Errorf("document %v", d)
	}
}

// TestNewManagerRefuses: bad configurations are refused with the problem
// named.
func TestNewManagerRefuses(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no store", cfg: Config{RedirectURL: redirectURL}, want: "Store"},
		{name: "http redirect", cfg: Config{Store: e.store, RedirectURL: "http://tsmcp.example.com/oauth/callback"}, want: "redirect URL"},
		{name: "relative redirect", cfg: Config{Store: e.store, RedirectURL: "/oauth/callback"}, want: "redirect URL"},
		{name: "http metadata document", cfg: Config{Store: e.store, RedirectURL: redirectURL, ClientMetadataURL: "http://h.example.com/c.json"}, want: "client metadata URL"},
		{name: "metadata document without path", cfg: Config{Store: e.store, RedirectURL: redirectURL, ClientMetadataURL: "https://h.example.com"}, want: "client metadata URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewManager(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewManager: %v, want an error naming %s", err, tc.want)
			}
		})
	}
	// A tailnet callback is plain HTTP by choice.
	if _, err := NewManager(Config{Store: e.store, RedirectURL: "http://tsmcp.example.ts.net/oauth/callback", AllowHTTPRedirect: true}); err != nil {
		t.Errorf("a plain-HTTP redirect with AllowHTTPRedirect: %v", err)
	}
}
