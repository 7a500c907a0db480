package oauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// TestStartWithoutAChallengeProbes: an identity whose requests never
// reached the upstream (the host sends a caller without a token to
// connect at once) starts from the challenge of an unauthenticated
// request: its scope is asked for, not scopes_supported, and its
// resource_metadata URL is used when the well-known URLs have no metadata.
func TestStartWithoutAChallengeProbes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// challenge is the scope of the upstream's 401; empty: none.
		challenge string
		// wellKnown: the protected resource metadata is (also) at the
		// well-known URL, not only where the challenge says.
		wellKnown bool
		want      string
	}{
		{name: "the challenge's scope over scopes_supported", challenge: "a b", wellKnown: true, want: "a b"},
		{name: "metadata only at the challenge's URL", challenge: "a", want: "a"},
		{name: "no scope in the challenge: scopes_supported", wellKnown: true, want: "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.as.set(func(f *fakeAS) { f.challengeScope, f.prmScopes = tc.challenge, []string{"c"} })
			if !tc.wellKnown {
				// The resource's 401 names its metadata at a URL of its
				// own; the well-known one answers 404.
				moved := e.up.URL + "/metadata"
				mux := http.NewServeMux()
				mux.HandleFunc("GET /.well-known/oauth-protected-resource/", http.NotFound)
				mux.HandleFunc("GET /.well-known/oauth-protected-resource", http.NotFound)
				mux.HandleFunc("GET /mcp/metadata", e.as.prm)
				mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+moved+`", scope="`+tc.challenge+`"`)
					w.WriteHeader(http.StatusUnauthorized)
				})
				mux.Handle("/", e.as.srv.Config.Handler)
				e.as.srv.Config.Handler = mux
			}
			a, err := e.m.Start(context.Background(), "alice", &e.up)
			if err != nil {
				t.Fatalf("Start without a challenge: %v", err)
			}
			u, _ := url.Parse(a.URL)
			if got := u.Query().Get("scope"); got != tc.want {
				t.Errorf("scope = %q, want %q", got, tc.want)
			}
		})
	}
}
