package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxPendingPerIdentity bounds the authorizations one identity can have
// started and not finished; starting another drops its oldest.
const maxPendingPerIdentity = 8

// pendingAuth is an authorization started by Start, waiting for its
// callback.
type pendingAuth struct {
	identity string
	upstream string
	verifier string // the PKCE code verifier
	scopes   []string
	disc     *discovery
	client   clientInfo
	started  time.Time
	expires  time.Time
}

// Authorization is a started authorization: where to send the browser.
type Authorization struct {
	// URL is the authorization server's authorization URL, with the
	// client, PKCE challenge, state, resource and scopes.
	URL string
	// State is the flow's state parameter: a secret of this flow, which
	// the callback must carry back.
	State string
	// Expires is when the flow can no longer be finished.
	Expires time.Time
	// Scopes are the scopes asked for (nil: no scope parameter).
	Scopes []string
}

// Start begins identity's authorization to up: it discovers the
// upstream's authorization server (from the last challenge the upstream
// gave identity, else from the challenge of an unauthenticated request,
// else the well-known URLs), picks the client and the
// scopes, and returns the authorization URL for identity's browser. The
// flow must be finished by Finish for the same identity before it expires.
//
// Scopes are those of the upstream's challenge (with, on
// insufficient_scope, the scopes identity already holds), else the
// protected resource's scopes_supported, else up.Scopes, else none.
func (m *Manager) Start(ctx context.Context, identity string, up *Upstream) (*Authorization, error) {
	if err := checkUpstream(identity, up); err != nil {
		return nil, err
	}
	a, err := m.start(ctx, identity, up)
	if err != nil {
		m.done(identity, Event{Kind: EventAuthorizationFailed, Upstream: up.Name, Reason: AuthStartError})
	}
	return a, err
}

// start is Start once the arguments are checked.
func (m *Manager) start(ctx context.Context, identity string, up *Upstream) (*Authorization, error) {
	k := connKey{identity, up.Name}
	m.mu.Lock()
	ch, seen := m.challenges[k]
	m.mu.Unlock()
	if !seen {
		if c, ok := m.probe(ctx, up); ok {
			ch = c
		}
	}
	disc, err := m.discover(ctx, up.URL, ch)
	if err != nil {
		return nil, err
	}
	scopes := m.startScopes(identity, up, ch, disc)
	client, err := m.client(ctx, up, &disc.as)
	if err != nil {
		return nil, err
	}
	verifier := randomString()
	state := randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {client.ID},
		"redirect_uri":          {m.cfg.RedirectURL},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"resource":              {disc.resource},
	}
	if len(scopes) > 0 {
		q.Set("scope", strings.Join(scopes, " "))
	}
	au, err := url.Parse(disc.as.AuthorizationEndpoint)
	if err != nil {
		return nil, fmt.Errorf("oauth: the authorization endpoint %q: %w", disc.as.AuthorizationEndpoint, err)
	}
	// Keep any query the endpoint has (RFC 6749 section 3.1).
	merged := au.Query()
	for k, v := range q {
		merged[k] = v
	}
	au.RawQuery = merged.Encode()

	now := m.cfg.Now()
	p := &pendingAuth{identity: identity, upstream: up.Name, verifier: verifier, scopes: scopes,
		disc: disc, client: client, started: now, expires: now.Add(m.cfg.StateTTL)}
	m.mu.Lock()
	m.sweepLocked(now)
	m.dropOldestLocked(identity)
	m.pending[sha256.Sum256([]byte(state))] = p
	m.mu.Unlock()
	m.log.Info("oauth: authorization started", "upstream", up.Name, "issuer", disc.as.Issuer, "client", client.Kind, "scopes", strings.Join(scopes, " "))
	return &Authorization{URL: au.String(), State: state, Expires: p.expires, Scopes: scopes}, nil
}

// startScopes applies the MCP specification's scope selection.
func (m *Manager) startScopes(identity string, up *Upstream, ch Challenge, disc *discovery) []string {
	if len(ch.Scopes) > 0 {
		scopes := slices.Clone(ch.Scopes)
		if ch.InsufficientScope() {
			// Step-up: keep what is held (the union, so a challenge naming
			// only the missing scope does not lose the others).
			var rec record
			if m.cfg.Store.get(tokenOwner(identity, up.Name), &rec) == nil {
				scopes = union(rec.Scopes, scopes)
			}
		}
		return scopes
	}
	if len(disc.prmScopes) > 0 {
		return slices.Clone(disc.prmScopes)
	}
	return slices.Clone(up.Scopes)
}

// union returns a's scopes then those of b not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// sweepLocked drops expired pending authorizations. m.mu is held.
func (m *Manager) sweepLocked(now time.Time) {
	for h, p := range m.pending {
		if now.After(p.expires) {
			delete(m.pending, h)
		}
	}
}

// dropOldestLocked makes room for one more pending authorization of
// identity. m.mu is held.
func (m *Manager) dropOldestLocked(identity string) {
	n := 0
	var oldest [32]byte
	var oldestAt time.Time
	for h, p := range m.pending {
		if p.identity != identity {
			continue
		}
		n++
		if oldestAt.IsZero() || p.started.Before(oldestAt) {
			oldest, oldestAt = h, p.started
		}
	}
	if n >= maxPendingPerIdentity {
		delete(m.pending, oldest)
	}
}

// randomString is 32 random bytes, base64url: a PKCE verifier or a state.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Callback is what the authorization server sent back to the redirect URL.
type Callback struct {
	// State is the state parameter.
	State string
	// Code is the authorization code; empty when Error is set.
	Code string
	// Iss is the RFC 9207 issuer parameter; empty when absent.
	Iss string
	// Error is the authorization server's error code (e.g. access_denied).
	Error string
	// ErrorDescription is its description.
	ErrorDescription string
}

// CallbackFromQuery reads a Callback from the redirect URL's query.
func CallbackFromQuery(q url.Values) Callback {
	return Callback{State: q.Get("state"), Code: q.Get("code"), Iss: q.Get("iss"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description")}
}

// Refusals of Finish. Each is wrapped with details.
var (
	// ErrUnknownState is a callback whose state no authorization has
	// (forged, replayed, or already finished).
	ErrUnknownState = errors.New("oauth: no authorization is waiting for this state (forged, replayed or already finished)")
	// ErrStateExpired is a callback after its authorization expired.
	ErrStateExpired = errors.New("oauth: the authorization expired; start it again")
	// ErrWrongIdentity is a callback from an identity other than the one
	// that started the authorization.
	ErrWrongIdentity = errors.New("oauth: the authorization was started by another identity")
	// ErrIssuerMismatch is a callback whose iss is not the authorization
	// server's (RFC 9207: a mix-up attack).
	ErrIssuerMismatch = errors.New("oauth: the callback's issuer is not the authorization server's")
)

// Finish completes identity's authorization from its callback: the state
// must belong to an authorization identity started, unexpired and not
// finished before (a state is used once, whatever the outcome). It
// exchanges the code (with the PKCE verifier and the resource) for a
// token, stores it and returns what is now connected.
func (m *Manager) Finish(ctx context.Context, identity string, cb Callback) (*Connection, error) {
	c, upstream, reason, err := m.finish(ctx, identity, cb)
	if err != nil {
		m.done(identity, Event{Kind: EventAuthorizationFailed, Upstream: upstream, Reason: reason})
		return nil, err
	}
	m.done(identity, Event{Kind: EventConnected, Upstream: c.Upstream})
	return c, nil
}

// finish is Finish; a failure also returns the upstream ("" when unknown)
// and the reason (an Auth constant).
func (m *Manager) finish(ctx context.Context, identity string, cb Callback) (*Connection, string, string, error) {
	if cb.State == "" {
		return nil, "", AuthUnknownState, fmt.Errorf("%w: the callback has no state", ErrUnknownState)
	}
	h := sha256.Sum256([]byte(cb.State))
	now := m.cfg.Now()
	m.mu.Lock()
	p, ok := m.pending[h]
	delete(m.pending, h)
	m.mu.Unlock()
	switch {
	case !ok:
		m.log.Warn("oauth: refused a callback with an unknown state")
		return nil, "", AuthUnknownState, ErrUnknownState
	case p.identity != identity:
		m.log.Warn("oauth: refused a callback from another identity than the one that started it", "upstream", p.upstream)
		return nil, p.upstream, AuthWrongIdentity, fmt.Errorf("%w (upstream %q)", ErrWrongIdentity, p.upstream)
	case now.After(p.expires):
		return nil, p.upstream, AuthExpiredState, fmt.Errorf("%w (upstream %q)", ErrStateExpired, p.upstream)
	}
	as := &p.disc.as
	if cb.Iss != "" || as.IssParameterSupported {
		if cb.Iss != as.Issuer {
			m.log.Warn("oauth: refused a callback naming another issuer", "upstream", p.upstream, "issuer", as.Issuer)
			return nil, p.upstream, AuthIssuerMismatch, fmt.Errorf("%w (upstream %q, expected %s)", ErrIssuerMismatch, p.upstream, as.Issuer)
		}
	}
	if cb.Error != "" {
		d := cb.ErrorDescription
		if len(d) > 200 {
			d = d[:200] + "…"
		}
		return nil, p.upstream, AuthDenied, fmt.Errorf("oauth: the authorization server refused the authorization for upstream %q: %s %s", p.upstream, cb.Error, d)
	}
	if cb.Code == "" {
		return nil, p.upstream, AuthDenied, fmt.Errorf("oauth: the callback for upstream %q has no code", p.upstream)
	}
	tr, err := m.tokenRequest(ctx, as.TokenEndpoint, p.client, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {cb.Code},
		"redirect_uri":  {m.cfg.RedirectURL},
		"code_verifier": {p.verifier},
		"resource":      {p.disc.resource},
	})
	if err != nil {
		return nil, p.upstream, AuthTokenError, err
	}
	rec := record{
		Issuer:        as.Issuer,
		TokenEndpoint: as.TokenEndpoint,
		Resource:      p.disc.resource,
		Client:        p.client,
		Obtained:      now,
	}
	rec.apply(tr, p.scopes, now)
	if err := m.cfg.Store.put(tokenOwner(identity, p.upstream), rec); err != nil {
		return nil, p.upstream, AuthTokenError, err
	}
	k := connKey{identity, p.upstream}
	m.mu.Lock()
	delete(m.challenges, k)
	m.mu.Unlock()
	m.log.Info("oauth: connected", "upstream", p.upstream, "scopes", strings.Join(rec.Scopes, " "), "expiry", rec.Expiry, "refreshable", rec.RefreshToken != "")
	c := rec.connection(p.upstream)
	return &c, "", "", nil
}
