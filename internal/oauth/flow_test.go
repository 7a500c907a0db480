package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConnectAndUse: without a token the upstream's 401 becomes an
// AuthorizationRequiredError with the connect link; after Start and
// Finish the transport sends the identity's bearer token and the
// upstream serves the identity's subject.
func TestConnectAndUse(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.challengeScope = "files:read" })

	_, err := e.get("alice")
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) {
		t.Fatalf("without a token: %v, want *AuthorizationRequiredError", err)
	}
	if are.Upstream != "files" || are.Reason != ReasonNotConnected || are.ConnectURL != "http://tsmcp.example.ts.net/connect/files" || !slices.Equal(are.Scopes, []string{"files:read"}) {
		t.Errorf("AuthorizationRequiredError = %+v", are)
	}

	c := e.connect(t, "alice")
	if !c.Connected || !slices.Equal(c.Scopes, []string{"files:read"}) || c.Issuer != e.as.url() || !c.Refreshable {
		t.Errorf("Connection = %+v", c)
	}
	q := e.as.authRequests[0]
	if q.Get("resource") != e.as.resource() || q.Get("scope") != "files:read" || q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != redirectURL {
		t.Errorf("authorization request %v", q)
	}
	got, err := e.get("alice")
	if err != nil || got != "hello alice-upstream" {
		t.Fatalf("with a token: %q, %v", got, err)
	}
	if b := e.as.bearers[len(e.as.bearers)-1]; !strings.HasPrefix(b, "Bearer at-") {
		t.Errorf("the upstream got Authorization %q", b)
	}
	if c, _ := e.m.Connection("alice", "files"); !c.Connected {
		t.Errorf("Connection after Finish: %+v", c)
	}
}

// TestScopeSelection: the challenge's scope, else the protected
// resource's scopes_supported, else the configured scopes, else no scope
// parameter.
func TestScopeSelection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		challenge string
		prm       []string
		config    []string
		want      string // "" and !has: no scope parameter
		has       bool
	}{
		{name: "challenge", challenge: "a b", prm: []string{"c"}, config: []string{"d"}, want: "a b", has: true},
		{name: "scopes_supported", prm: []string{"c", "e"}, config: []string{"d"}, want: "c e", has: true},
		{name: "config", config: []string{"d"}, want: "d", has: true},
		{name: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.up.Scopes = tc.config
			e.as.set(func(f *fakeAS) { f.challengeScope, f.prmScopes = tc.challenge, tc.prm })
			e.get("alice") // the 401 challenge
			a, err := e.m.Start(context.Background(), "alice", &e.up)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(a.URL)
			got, has := u.Query()["scope"]
			if has != tc.has || (has && got[0] != tc.want) {
				t.Errorf("scope = %q (present %v), want %q (present %v)", got, has, tc.want, tc.has)
			}
		})
	}
}

// TestFinishRefuses tries to break the callback: another identity, a
// replayed, forged or expired state, another issuer, an error answer. Each
// is refused and stores no token.
func TestFinishRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// tamper changes the callback and finishes as whom it returns.
		tamper func(e *env, cb *Callback) string
		want   error
	}{
		{name: "another identity", want: ErrWrongIdentity, tamper: func(e *env, cb *Callback) string { return "mallory" }},
		{name: "forged state", want: ErrUnknownState, tamper: func(e *env, cb *Callback) string { cb.State = randomString(); return "alice" }},
		{name: "no state", want: ErrUnknownState, tamper: func(e *env, cb *Callback) string { cb.State = ""; return "alice" }},
		{name: "expired", want: ErrStateExpired, tamper: func(e *env, cb *Callback) string { e.advance(DefaultStateTTL + time.Second); return "alice" }},
		{name: "another issuer", want: ErrIssuerMismatch, tamper: func(e *env, cb *Callback) string { cb.Iss = "https://evil.example.com"; return "alice" }},
		{name: "iss missing though advertised", want: ErrIssuerMismatch, tamper: func(e *env, cb *Callback) string { cb.Iss = ""; return "alice" }},
		{name: "error answer", tamper: func(e *env, cb *Callback) string {
			*cb = Callback{State: cb.State, Iss: cb.Iss, Error: "access_denied"}
			return "alice"
		}},
		{name: "no code", tamper: func(e *env, cb *Callback) string { cb.Code = ""; return "alice" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a, err := e.m.Start(context.Background(), "alice", &e.up)
			if err != nil {
				t.Fatal(err)
			}
			cb := CallbackFromQuery(browse(t, a.URL))
			who := tc.tamper(e, &cb)
			_, err = e.m.Finish(context.Background(), who, cb)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Finish: %v, want %v", err, tc.want)
			}
			for _, id := range []string{"alice", "mallory"} {
				if c, _ := e.m.Connection(id, "files"); c.Connected {
					t.Errorf("%s is connected after a refused callback", id)
				}
			}
		})
	}
}

// TestStateSingleUse: a state finishes once; replaying the callback is
// refused, and a callback tried by another identity burns the state, so
// the stolen link is useless and the flow starts again.
func TestStateSingleUse(t *testing.T) {
	e := newEnv(t)
	a, _ := e.m.Start(context.Background(), "alice", &e.up)
	cb := CallbackFromQuery(browse(t, a.URL))
	if _, err := e.m.Finish(context.Background(), "alice", cb); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Finish(context.Background(), "alice", cb); !errors.Is(err, ErrUnknownState) {
		t.Errorf("replayed callback: %v, want ErrUnknownState", err)
	}

	a, _ = e.m.Start(context.Background(), "alice", &e.up)
	cb = CallbackFromQuery(browse(t, a.URL))
	if _, err := e.m.Finish(context.Background(), "bob", cb); !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("bob finishing alice's flow: %v, want ErrWrongIdentity", err)
	}
	if _, err := e.m.Finish(context.Background(), "alice", cb); !errors.Is(err, ErrUnknownState) {
		t.Errorf("alice after bob's attempt: %v, want ErrUnknownState", err)
	}
}

// TestPendingBounded: an identity's unfinished authorizations are bounded;
// the oldest goes first, another identity's are untouched.
func TestPendingBounded(t *testing.T) {
	e := newEnv(t)
	bob, _ := e.m.Start(context.Background(), "bob", &e.up)
	first, _ := e.m.Start(context.Background(), "alice", &e.up)
	for range maxPendingPerIdentity {
		e.advance(time.Second)
		if _, err := e.m.Start(context.Background(), "alice", &e.up); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.m.Finish(context.Background(), "alice", CallbackFromQuery(browse(t, first.URL))); !errors.Is(err, ErrUnknownState) {
		t.Errorf("alice's oldest flow: %v, want ErrUnknownState (dropped)", err)
	}
	if _, err := e.m.Finish(context.Background(), "bob", CallbackFromQuery(browse(t, bob.URL))); err != nil {
		t.Errorf("bob's flow: %v", err)
	}
}

// TestPKCEAndResourceReachTheTokenEndpoint: the fake token endpoint checks
// the verifier against the challenge and the resource and redirect URI
// against the authorization request's; a code exchanged by a manager that
// did not start the flow (no verifier) gets nothing.
func TestPKCEAndResourceReachTheTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	a, _ := e.m.Start(context.Background(), "alice", &e.up)
	cb := CallbackFromQuery(browse(t, a.URL))
	// Another manager (another replica without this flow) cannot finish it.
	other := newEnv(t)
	if _, err := other.m.Finish(context.Background(), "alice", cb); !errors.Is(err, ErrUnknownState) {
		t.Errorf("another manager: %v, want ErrUnknownState", err)
	}
	if _, err := e.m.Finish(context.Background(), "alice", cb); err != nil {
		t.Fatalf("Finish (the fake checks PKCE S256, resource and redirect_uri): %v", err)
	}
}
