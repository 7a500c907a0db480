package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestWellKnownURLs: the metadata URLs in the MCP specification's order.
func TestWellKnownURLs(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*url.URL) []string
		in   string
		want []string
	}{
		{name: "resource with path", fn: resourceMetadataURLs, in: "https://mcp.example.com/public/mcp",
			want: []string{"https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource"}},
		{name: "resource at the root", fn: resourceMetadataURLs, in: "https://mcp.example.com/",
			want: []string{"https://mcp.example.com/.well-known/oauth-protected-resource"}},
		{name: "issuer with path", fn: serverMetadataURLs, in: "https://auth.example.com/tenant1",
			want: []string{"https://auth.example.com/.well-known/oauth-authorization-server/tenant1", "https://auth.example.com/.well-known/openid-configuration/tenant1", "https://auth.example.com/tenant1/.well-known/openid-configuration"}},
		{name: "issuer without path", fn: serverMetadataURLs, in: "https://auth.example.com",
			want: []string{"https://auth.example.com/.well-known/oauth-authorization-server", "https://auth.example.com/.well-known/openid-configuration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, _ := url.Parse(tc.in)
			if got := tc.fn(u); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// discoveryServer serves protected resource metadata and authorization
// server metadata at chosen paths only, recording every GET.
type discoveryServer struct {
	srv  *httptest.Server
	mu   sync.Mutex // guards the field below
	gets []string
}

func newDiscoveryServer(t *testing.T, prmPath, asPath, issuerPath string, md map[string]any) *discoveryServer {
	d := &discoveryServer{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.gets = append(d.gets, r.URL.Path)
		d.mu.Unlock()
		switch r.URL.Path {
		case prmPath:
			json.NewEncoder(w).Encode(map[string]any{"resource": d.srv.URL + "/tenant/mcp", "authorization_servers": []string{d.srv.URL + issuerPath}})
		case asPath:
			doc := map[string]any{"issuer": d.srv.URL + issuerPath, "authorization_endpoint": d.srv.URL + "/authorize",
				"token_endpoint": d.srv.URL + "/token", "code_challenge_methods_supported": []string{"S256"}}
			for k, v := range md {
				if v == nil {
					delete(doc, k)
				} else {
					doc[k] = v
				}
			}
			json.NewEncoder(w).Encode(doc)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// TestDiscoveryOrder: without resource_metadata in the challenge the
// path-suffixed well-known URL comes before the root one, and the
// authorization server's metadata URLs are tried in order until one
// answers; with it, only that URL is fetched.
func TestDiscoveryOrder(t *testing.T) {
	e := newEnv(t)
	d := newDiscoveryServer(t, "/.well-known/oauth-protected-resource", "/t1/.well-known/openid-configuration", "/t1", nil)
	disc, err := e.m.discover(context.Background(), d.srv.URL+"/tenant/mcp", Challenge{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/.well-known/oauth-protected-resource/tenant/mcp",
		"/.well-known/oauth-protected-resource",
		"/.well-known/oauth-authorization-server/t1",
		"/.well-known/openid-configuration/t1",
		"/t1/.well-known/openid-configuration",
	}
	if !slices.Equal(d.gets, want) {
		t.Errorf("fetched %q\nwant %q", d.gets, want)
	}
	if disc.resource != d.srv.URL+"/tenant/mcp" || disc.as.Issuer != d.srv.URL+"/t1" {
		t.Errorf("discovered %+v", disc)
	}

	d = newDiscoveryServer(t, "/custom/prm.json", "/.well-known/oauth-authorization-server", "", nil)
	if _, err := e.m.discover(context.Background(), d.srv.URL+"/tenant/mcp", Challenge{ResourceMetadata: d.srv.URL + "/custom/prm.json"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/custom/prm.json", "/.well-known/oauth-authorization-server"}; !slices.Equal(d.gets, want) {
		t.Errorf("with resource_metadata, fetched %q, want %q", d.gets, want)
	}
}

// TestDiscoveryRefuses: an authorization server without PKCE S256, one
// whose metadata names another issuer, protected resource metadata for
// another resource or without authorization servers, and plain-HTTP
// servers elsewhere than on loopback are refused, each with the problem
// named.
func TestDiscoveryRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		md       map[string]any
		prm      func(f *fakeAS)
		upstream string
		want     string
	}{
		{name: "no PKCE", md: map[string]any{"code_challenge_methods_supported": nil}, want: "PKCE"},
		{name: "plain PKCE only", md: map[string]any{"code_challenge_methods_supported": []string{"plain"}}, want: "PKCE"},
		{name: "another issuer", md: map[string]any{"issuer": "https://evil.example.com"}, want: "is for issuer"},
		{name: "another resource", prm: func(f *fakeAS) { f.prmResource = "https://other.example.com/mcp" }, want: "another resource"},
		{name: "a sibling path", prm: func(f *fakeAS) { f.prmResource = f.url() + "/mcp2" }, want: "another resource"},
		{name: "plain HTTP upstream", upstream: "http://mcp.example.com/mcp", want: "not HTTPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.as.set(func(f *fakeAS) {
				for k, v := range tc.md {
					f.md[k] = v
				}
				if tc.prm != nil {
					tc.prm(f)
				}
			})
			if tc.upstream != "" {
				e.up.URL = tc.upstream
			}
			_, err := e.m.Start(context.Background(), "alice", &e.up)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v, want an error containing %q", err, tc.want)
			}
			if len(e.as.authRequests) != 0 {
				t.Error("an authorization request went out")
			}
		})
	}
}

// TestResourceCovers: a resource identifier covers the URLs at or below
// it on the same origin only.
func TestResourceCovers(t *testing.T) {
	for _, tc := range []struct {
		res, u string
		want   bool
	}{
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp", true},
		{"https://mcp.example.com", "https://mcp.example.com/mcp", true},
		{"https://MCP.example.com:443/", "https://mcp.example.com/mcp", true},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp/sub", true},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/mcp2", false},
		{"https://mcp.example.com/mcp", "https://mcp.example.com/", false},
		{"http://mcp.example.com/mcp", "https://mcp.example.com/mcp", false},
		{"https://mcp.example.com:8443/mcp", "https://mcp.example.com/mcp", false},
		{"https://evil.example.com/mcp", "https://mcp.example.com/mcp", false},
		{"https://mcp.example.com/mcp#x", "https://mcp.example.com/mcp", false},
	} {
		t.Run(tc.res+" for "+tc.u, func(t *testing.T) {
			u, _ := url.Parse(tc.u)
			if got := resourceCovers(tc.res, u); got != tc.want {
				t.Errorf("resourceCovers(%q, %q) = %v, want %v", tc.res, tc.u, got, tc.want)
			}
		})
	}
}
