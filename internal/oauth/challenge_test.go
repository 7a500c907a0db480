package oauth

import (
	"net/http"
	"slices"
	"testing"
)

// TestParseChallenge reads Bearer challenges as servers write them.
func TestParseChallenge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   Challenge
		ok     bool
	}{
		{name: "the TypeScript SDK's 401", values: []string{`Bearer error="invalid_token", error_description="Missing Authorization header", resource_metadata="http://localhost:3000/.well-known/oauth-protected-resource/mcp"`},
			want: Challenge{Error: "invalid_token", ResourceMetadata: "http://localhost:3000/.well-known/oauth-protected-resource/mcp"}, ok: true},
		{name: "scope and metadata", values: []string{`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="files:read files:write"`},
			want: Challenge{ResourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource", Scopes: []string{"files:read", "files:write"}}, ok: true},
		{name: "insufficient scope", values: []string{`Bearer error="insufficient_scope", scope="mcp:admin", resource_metadata="https://x/prm", error_description="Scope upgrade will never succeed, really"`},
			want: Challenge{Error: "insufficient_scope", Scopes: []string{"mcp:admin"}, ResourceMetadata: "https://x/prm"}, ok: true},
		{name: "commas and escapes in quoted values", values: []string{`Bearer error_description="a, \"b\"", scope="x"`},
			want: Challenge{Scopes: []string{"x"}}, ok: true},
		{name: "token values", values: []string{`bearer error=invalid_token, scope=a`},
			want: Challenge{Error: "invalid_token", Scopes: []string{"a"}}, ok: true},
		{name: "after another scheme", values: []string{`Basic realm="x", Bearer scope="a"`},
			want: Challenge{Scopes: []string{"a"}}, ok: true},
		{name: "in a second header", values: []string{`Basic realm="x"`, `Bearer resource_metadata="https://x/prm"`},
			want: Challenge{ResourceMetadata: "https://x/prm"}, ok: true},
		{name: "bare Bearer", values: []string{`Bearer`}, want: Challenge{}, ok: true},
		{name: "no Bearer", values: []string{`Basic realm="x"`}},
		{name: "none"},
		{name: "empty scope", values: []string{`Bearer scope=""`}, want: Challenge{Scopes: []string{}}, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("WWW-Authenticate", v)
			}
			got, ok := ParseChallenge(h)
			if ok != tc.ok || got.Error != tc.want.Error || got.ResourceMetadata != tc.want.ResourceMetadata || !slices.Equal(got.Scopes, tc.want.Scopes) {
				t.Errorf("ParseChallenge = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
