package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// storedRecord reads identity's record for e.up.
func (e *env) storedRecord(t *testing.T, identity string) record {
	t.Helper()
	var r record
	if err := e.store.get(tokenOwner(identity, e.up.Name), &r); err != nil {
		t.Fatalf("reading %s's record: %v", identity, err)
	}
	return r
}

// TestRefreshRotates: an expired token is refreshed before the request;
// the rotated refresh token replaces the old one, which the server no
// longer accepts.
func TestRefreshRotates(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	e.connect(t, "alice")
	before := e.storedRecord(t, "alice")
	e.advance(2 * time.Minute)
	if got, err := e.get("alice"); err != nil || got != "hello alice-upstream" {
		t.Fatalf("after expiry: %q, %v", got, err)
	}
	after := e.storedRecord(t, "alice")
	if after.AccessToken == before.AccessToken || after.RefreshToken == before.RefreshToken {
		t.Fatal("the token was not refreshed and rotated")
	}
	if !after.Expiry.After(e.clock()) {
		t.Errorf("the refreshed expiry %v is not in the future", after.Expiry)
	}
	if _, live := e.as.refresh[before.RefreshToken]; live {
		t.Error("the old refresh token still works at the fake: the test proves nothing")
	}
}

// TestReplicaRefreshedFirst: two replicas share the store; while one
// sends its refresh, the other refreshes the same token first, so the
// rotated-away refresh token is refused. The loser uses the winner's
// token: the grant is not deleted.
func TestReplicaRefreshedFirst(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	e.connect(t, "alice")
	other := e.replica(t)
	e.advance(2 * time.Minute)
	e.as.set(func(f *fakeAS) {
		f.onRefresh = func() {
			if got, err := other.get("alice"); err != nil || got != "hello alice-upstream" {
				t.Errorf("the other replica: %q, %v", got, err)
			}
		}
	})
	if got, err := e.get("alice"); err != nil || got != "hello alice-upstream" {
		t.Fatalf("the replica that lost the refresh race: %q, %v; want the other's token used", got, err)
	}
	if c, err := e.m.Connection("alice", e.up.Name); err != nil || !c.Connected {
		t.Fatalf("after the race alice is not connected (%v): the grant was deleted", err)
	}
}

// TestRefreshForAnotherSubject: a refresh that answers for somebody else
// than the identity authorized as is not used: the token is dropped and
// the identity asked to authorize again.
func TestRefreshForAnotherSubject(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn, f.idTokens = 60, true })
	if c := e.connect(t, "alice"); c.Subject != "alice-upstream" {
		t.Fatalf("connected as %q, want alice-upstream", c.Subject)
	}
	e.advance(2 * time.Minute)
	e.as.set(func(f *fakeAS) { f.refreshSubject = "mallory-upstream" })
	got, err := e.get("alice")
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.Reason != ReasonSubjectChanged || strings.Contains(got, "mallory") {
		t.Fatalf("after a refresh for another subject: %q, %v; want authorization required (%s)", got, err, ReasonSubjectChanged)
	}
	if c, err := e.m.Connection("alice", e.up.Name); err != nil || c.Connected {
		t.Fatalf("alice still holds a token (%+v, %v)", c, err)
	}
}

// TestConcurrentRefreshOnce: callers racing on an expired token refresh it
// once (a second refresh would use the rotated-away refresh token and
// lose the grant).
func TestConcurrentRefreshOnce(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	e.connect(t, "alice")
	e.advance(2 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if _, err := e.get("alice"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent request: %v", err)
	}
	if n := len(e.as.tokenAuth); n != 2 {
		t.Errorf("%d token requests, want 2 (the code, one refresh)", n)
	}
}

// TestRevokedGrant: when the grant is revoked, the upstream's 401 leads
// to a refused refresh; the token is deleted and the identity must
// authorize again.
func TestRevokedGrant(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	e.as.revoke("alice-upstream")
	_, err := e.get("alice")
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.Reason != ReasonRefreshRefused {
		t.Fatalf("after revocation: %v, want AuthorizationRequiredError (%s)", err, ReasonRefreshRefused)
	}
	if c, _ := e.m.Connection("alice", "files"); c.Connected {
		t.Error("the revoked token is still stored")
	}
}

// TestRejectedTokenRefreshedAndRetried: a token the upstream no longer
// accepts (401) is refreshed and the request sent again, body included.
func TestRejectedTokenRefreshedAndRetried(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	e.as.expireAccess()
	if got, err := e.get("alice"); err != nil || got != "hello alice-upstream" {
		t.Fatalf("after the upstream dropped the access token: %q, %v", got, err)
	}
}

// TestRejectedWithoutRefreshToken: a 401 to a token without a refresh
// token deletes it and asks for authorization.
func TestRejectedWithoutRefreshToken(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	r := e.storedRecord(t, "alice")
	r.RefreshToken = ""
	if err := e.store.put(tokenOwner("alice", "files"), r); err != nil {
		t.Fatal(err)
	}
	e.as.expireAccess()
	_, err := e.get("alice")
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.Reason != ReasonRejected {
		t.Fatalf("%v, want AuthorizationRequiredError (%s)", err, ReasonRejected)
	}
	if c, _ := e.m.Connection("alice", "files"); c.Connected {
		t.Error("the rejected token is still stored")
	}
}

// TestStepUp: a 403 insufficient_scope asks for authorization with the
// held and the asked scopes; the next authorization requests their union
// and the request then succeeds.
func TestStepUp(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.challengeScope = "files:read" })
	e.get("alice")
	e.connect(t, "alice")
	e.as.set(func(f *fakeAS) { f.requiredScope = "files:write" })
	_, err := e.get("alice")
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.Reason != ReasonInsufficientScope || !slices.Equal(are.Scopes, []string{"files:read", "files:write"}) {
		t.Fatalf("insufficient scope: %v (%+v)", err, are)
	}
	a, err := e.m.Start(context.Background(), "alice", &e.up)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL)
	if s := u.Query().Get("scope"); s != "files:read files:write" {
		t.Errorf("the step-up asks for %q, want the union", s)
	}
	if _, err := e.m.Finish(context.Background(), "alice", CallbackFromQuery(browse(t, a.URL))); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get("alice"); err != nil || got != "hello alice-upstream" {
		t.Fatalf("after the step-up: %q, %v", got, err)
	}
}

// TestStepUpLimit: an upstream that keeps answering insufficient_scope
// although the identity authorized again gets one step-up, then
// InsufficientScopeError; Disconnect resets the count.
func TestStepUpLimit(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.requiredScope, f.withhold, f.challengeScope = "admin", "admin", "admin" })
	e.get("alice")
	e.connect(t, "alice")
	var are *AuthorizationRequiredError
	if _, err := e.get("alice"); !errors.As(err, &are) {
		t.Fatalf("first insufficient_scope: %v, want a step-up", err)
	}
	e.connect(t, "alice")
	_, err := e.get("alice")
	var ise *InsufficientScopeError
	if !errors.As(err, &ise) || !slices.Equal(ise.Scopes, []string{"admin"}) {
		t.Fatalf("second insufficient_scope: %v, want InsufficientScopeError", err)
	}
	if err := e.m.Disconnect("alice", "files"); err != nil {
		t.Fatal(err)
	}
	e.connect(t, "alice")
	if _, err := e.get("alice"); !errors.As(err, &are) {
		t.Fatalf("after Disconnect: %v, want a step-up again", err)
	}
}

// TestIdentitiesIsolated: each identity's transport sends its own token
// only; one identity's connection is not another's.
func TestIdentitiesIsolated(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.subject = "alice-upstream" })
	e.connect(t, "alice@example.com")
	e.as.set(func(f *fakeAS) { f.subject = "bob-upstream" })
	e.connect(t, "bob@example.com")
	for id, want := range map[string]string{"alice@example.com": "hello alice-upstream", "bob@example.com": "hello bob-upstream"} {
		if got, err := e.get(id); err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", id, got, err, want)
		}
	}
	var are *AuthorizationRequiredError
	if _, err := e.get("carol@example.com"); !errors.As(err, &are) {
		t.Errorf("carol, never connected: %v, want AuthorizationRequiredError", err)
	}
	if err := e.m.Disconnect("alice@example.com", "files"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.get("alice@example.com"); !errors.As(err, &are) {
		t.Errorf("alice after Disconnect: %v, want AuthorizationRequiredError", err)
	}
	if got, err := e.get("bob@example.com"); err != nil || got != "hello bob-upstream" {
		t.Errorf("bob after alice's Disconnect: %q, %v", got, err)
	}
}

// TestTokensPersist: a second manager over the same store and key (a
// restart, another replica) uses the stored token and can refresh it.
func TestTokensPersist(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60 })
	e.connect(t, "alice")
	m2, err := NewManager(Config{Store: e.store, RedirectURL: redirectURL, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.m = m2
	e.advance(2 * time.Minute)
	if got, err := e.get("alice"); err != nil || got != "hello alice-upstream" {
		t.Fatalf("through a second manager: %q, %v", got, err)
	}
}

// TestNothingSecretLogged runs flows with a dynamic registration (a
// client secret), refreshes, a revocation and refusals, and looks for
// every token, code and secret the server handed out, and the state, in the log and the errors.
func TestNothingSecretLogged(t *testing.T) {
	e := newEnv(t)
	e.as.set(func(f *fakeAS) { f.expiresIn = 60; f.authMethods = []string{authBasic} })
	var errs []string
	note := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	note(e.get("alice"))
	a, _ := e.m.Start(context.Background(), "alice", &e.up)
	cb := CallbackFromQuery(browse(t, a.URL))
	note(e.m.Finish(context.Background(), "bob", cb))
	e.connect(t, "alice")
	e.advance(2 * time.Minute)
	note(e.get("alice"))
	e.as.revoke("alice-upstream")
	e.advance(2 * time.Minute)
	note(e.get("alice"))
	if e.as.registrations != 1 || !slices.Contains(e.as.tokenAuth, authBasic) {
		t.Fatalf("the flows did not use a registered secret (registrations %d, auth %v): the test proves nothing", e.as.registrations, e.as.tokenAuth)
	}
	secrets := append(slices.Clone(e.as.issued), a.State, cb.State)
	logs := e.logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(logs, "oauth: connected") {
		t.Fatalf("nothing was logged: the test proves nothing:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%.8s…) is in the log or an error", s)
		}
	}
}
