package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// expirySkew is how long before its expiry a token is refreshed.
const expirySkew = 30 * time.Second

// record is an identity's token for an upstream, as stored (sealed), with
// what refreshing it needs.
type record struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Scopes are the granted scopes (the token response's scope, else
	// those asked for).
	Scopes []string `json:"scopes,omitempty"`
	// Subject is the id_token's sub when the server sent one (unverified:
	// for display only).
	Subject  string    `json:"subject,omitempty"`
	Obtained time.Time `json:"obtained"`

	Issuer        string     `json:"issuer"`
	TokenEndpoint string     `json:"token_endpoint"`
	Resource      string     `json:"resource"`
	Client        clientInfo `json:"client"`
}

// apply takes a token response into r: the new access token, a rotated
// refresh token (the old one stays when none is sent), the expiry and the
// granted scopes (asked when the response names none).
func (r *record) apply(tr *tokenResponse, asked []string, now time.Time) {
	r.AccessToken = tr.AccessToken
	if tr.RefreshToken != "" {
		r.RefreshToken = tr.RefreshToken
	}
	r.Expiry = time.Time{}
	if tr.ExpiresIn > 0 {
		r.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if tr.Scope != "" {
		r.Scopes = strings.Fields(tr.Scope)
	} else if asked != nil {
		r.Scopes = slices.Clone(asked)
	}
	if sub := idTokenSubject(tr.IDToken); sub != "" {
		r.Subject = sub
	}
}

// expired reports whether r's access token is (about to be) expired.
func (r *record) expired(now time.Time) bool {
	return !r.Expiry.IsZero() && !now.Add(expirySkew).Before(r.Expiry)
}

// idTokenSubject is the sub claim of an OpenID Connect ID token, read
// without verification (for display only), or "".
func idTokenSubject(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Sub
}

// Connection is what is known of an identity's authorization to an
// upstream, for display: nothing in it is secret.
type Connection struct {
	// Upstream is the upstream's name.
	Upstream string
	// Connected is whether a token is stored.
	Connected bool
	// Subject is who the upstream knows the identity as, when the
	// authorization server said (an id_token's sub, unverified). Empty:
	// unknown.
	Subject string
	// Scopes are the granted scopes.
	Scopes []string
	// Expiry is when the access token expires. Zero: unknown or never.
	Expiry time.Time
	// Obtained is when the identity authorized.
	Obtained time.Time
	// Refreshable is whether a refresh token is held.
	Refreshable bool
	// Issuer is the authorization server.
	Issuer string
}

// connection describes r.
func (r *record) connection(upstream string) Connection {
	return Connection{Upstream: upstream, Connected: true, Subject: r.Subject, Scopes: slices.Clone(r.Scopes),
		Expiry: r.Expiry, Obtained: r.Obtained, Refreshable: r.RefreshToken != "", Issuer: r.Issuer}
}

// Connection returns what is known of identity's authorization to
// upstream (Connected false when there is none).
func (m *Manager) Connection(identity, upstream string) (Connection, error) {
	var rec record
	switch err := m.cfg.Store.get(tokenOwner(identity, upstream), &rec); {
	case errors.Is(err, errNoRecord):
		return Connection{Upstream: upstream}, nil
	case err != nil:
		return Connection{Upstream: upstream}, err
	}
	return rec.connection(upstream), nil
}

// Disconnect deletes identity's token for upstream and forgets its
// pending challenge and step-up count.
func (m *Manager) Disconnect(identity, upstream string) error {
	if err := m.disconnect(identity, upstream); err != nil {
		return err
	}
	m.done(identity, Event{Kind: EventDisconnected, Upstream: upstream})
	return nil
}

// disconnect is Disconnect but for its Event.
func (m *Manager) disconnect(identity, upstream string) error {
	k := connKey{identity, upstream}
	l := m.lock(k)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	delete(m.challenges, k)
	delete(m.stepUps, k)
	m.mu.Unlock()
	if err := m.cfg.Store.del(tokenOwner(identity, upstream)); err != nil {
		return err
	}
	m.log.Info("oauth: disconnected", "upstream", upstream)
	return nil
}

// token returns identity's stored token for up, refreshed first when it
// has expired. No token, or one that can no longer be refreshed, is an
// *AuthorizationRequiredError.
func (m *Manager) token(ctx context.Context, identity string, up *Upstream) (*record, error) {
	o := tokenOwner(identity, up.Name)
	var rec record
	switch err := m.cfg.Store.get(o, &rec); {
	case errors.Is(err, errNoRecord):
		return nil, m.authRequired(up, ReasonNotConnected, nil)
	case err != nil:
		// A record that does not open (another credential key) is as
		// good as none: the identity authorizes again.
		m.log.Warn("oauth: a stored token is unusable", "upstream", up.Name, "err", err)
		return nil, m.authRequired(up, ReasonNotConnected, nil)
	}
	if u, err := url.Parse(up.URL); err != nil || !resourceCovers(rec.Resource, u) {
		// The upstream's URL changed since the authorization: the token
		// is for another resource and must not go there.
		m.log.Info("oauth: the stored token is for another resource than the upstream's URL; the identity must authorize again", "upstream", up.Name, "resource", rec.Resource)
		return nil, m.authRequired(up, ReasonNotConnected, nil)
	}
	if !rec.expired(m.cfg.Now()) {
		return &rec, nil
	}
	return m.refresh(ctx, identity, up, rec.AccessToken)
}

// refresh refreshes identity's token for up unless another caller already
// replaced the access token stale. A refresh the server refuses (or no
// refresh token) deletes the token and is an *AuthorizationRequiredError.
func (m *Manager) refresh(ctx context.Context, identity string, up *Upstream, stale string) (*record, error) {
	rec, e, err := m.refreshLocked(ctx, identity, up, stale)
	if e.Kind != "" {
		m.done(identity, e)
	}
	return rec, err
}

// refreshLocked is refresh under the connection's lock; it returns the
// Event to record once the lock is released (Kind "" for none: the token
// was refreshed meanwhile, here or by another replica).
func (m *Manager) refreshLocked(ctx context.Context, identity string, up *Upstream, stale string) (*record, Event, error) {
	failed := func(reason string) Event {
		return Event{Kind: EventRefreshFailed, Upstream: up.Name, Reason: reason}
	}
	k := connKey{identity, up.Name}
	l := m.lock(k)
	l.Lock()
	defer l.Unlock()
	o := tokenOwner(identity, up.Name)
	var rec record
	if err := m.cfg.Store.get(o, &rec); err != nil {
		return nil, Event{}, m.authRequired(up, ReasonNotConnected, nil)
	}
	now := m.cfg.Now()
	if rec.AccessToken != stale && !rec.expired(now) {
		return &rec, Event{}, nil // refreshed meanwhile
	}
	if rec.RefreshToken == "" {
		m.cfg.Store.del(o)
		return nil, failed(RefreshExpired), m.authRequired(up, ReasonExpired, rec.Scopes)
	}
	if err := m.checkURL(rec.TokenEndpoint, "token endpoint"); err != nil {
		return nil, failed(RefreshError), err
	}
	tr, err := m.tokenRequest(ctx, rec.TokenEndpoint, rec.Client, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {rec.RefreshToken},
		"resource":      {rec.Resource},
	})
	if err != nil {
		var ee *EndpointError
		if errors.As(err, &ee) && ee.Status >= 400 && ee.Status < 500 {
			// Another replica sharing the store may have refreshed
			// first with the same refresh token, which rotation then
			// made ours invalid: its token is good, and the grant lives.
			var now record
			if err := m.cfg.Store.get(o, &now); err == nil && now.RefreshToken != rec.RefreshToken && !now.expired(m.cfg.Now()) {
				m.log.Info("oauth: refresh refused, but another replica refreshed the token meanwhile", "upstream", up.Name)
				return &now, Event{}, nil
			}
			// invalid_grant (revoked, expired) and the like: the grant is
			// gone; the identity must authorize again.
			m.log.Info("oauth: refresh refused; the identity must authorize again", "upstream", up.Name, "status", ee.Status, "error", ee.Code)
			m.cfg.Store.del(o)
			return nil, failed(RefreshRefused), m.authRequired(up, ReasonRefreshRefused, rec.Scopes)
		}
		return nil, failed(RefreshError), err
	}
	if sub := idTokenSubject(tr.IDToken); sub != "" && rec.Subject != "" && sub != rec.Subject {
		// A refresh renews the grant the identity gave; a token for
		// somebody else is not that grant (a confused or compromised
		// authorization server): it is never used, and the identity
		// authorizes again.
		m.log.Warn("oauth: the refreshed token speaks for another subject than the one the identity authorized; dropped, the identity must authorize again", "upstream", up.Name)
		m.cfg.Store.del(o)
		return nil, failed(RefreshRefused), m.authRequired(up, ReasonSubjectChanged, rec.Scopes)
	}
	rec.apply(tr, rec.Scopes, now)
	if err := m.cfg.Store.put(o, rec); err != nil {
		return nil, failed(RefreshError), err
	}
	m.log.Info("oauth: token refreshed", "upstream", up.Name, "expiry", rec.Expiry, "rotated", tr.RefreshToken != "")
	return &rec, Event{Kind: EventRefreshed, Upstream: up.Name}, nil
}

// Reasons an identity must authorize (AuthorizationRequiredError.Reason).
const (
	// ReasonNotConnected: the identity holds no token for the upstream.
	ReasonNotConnected = "not connected"
	// ReasonExpired: the token expired and cannot be refreshed.
	ReasonExpired = "token expired"
	// ReasonSubjectChanged: a refresh returned a token for another
	// subject than the one the identity authorized as.
	ReasonSubjectChanged = "the authorization server answered for another subject"
	// ReasonRefreshRefused: the authorization server refused the refresh
	// (the grant was revoked or expired).
	ReasonRefreshRefused = "refresh refused"
	// ReasonRejected: the upstream rejected the token (401).
	ReasonRejected = "token rejected by the upstream"
	// ReasonInsufficientScope: the upstream needs more scopes (403
	// insufficient_scope): a step-up authorization.
	ReasonInsufficientScope = "insufficient scope"
)

// AuthorizationRequiredError says the caller must authorize (again) to an
// upstream before it can be used: the host answers with a URL-mode
// elicitation (or a tool error) linking to ConnectURL.
type AuthorizationRequiredError struct {
	// Upstream is the upstream's name.
	Upstream string
	// Reason is why (one of the Reason constants).
	Reason string
	// Scopes are the scopes the upstream asked for, when it said.
	Scopes []string
	// ConnectURL is the host's page starting the authorization
	// (Config.ConnectURL); empty when not configured.
	ConnectURL string
}

func (e *AuthorizationRequiredError) Error() string {
	s := fmt.Sprintf("upstream %q needs the caller's authorization (%s)", e.Upstream, e.Reason)
	if e.ConnectURL != "" {
		s += ": connect at " + e.ConnectURL
	}
	return s
}

// authRequired builds an AuthorizationRequiredError for up.
func (m *Manager) authRequired(up *Upstream, reason string, scopes []string) *AuthorizationRequiredError {
	e := &AuthorizationRequiredError{Upstream: up.Name, Reason: reason, Scopes: slices.Clone(scopes)}
	if m.cfg.ConnectURL != nil {
		e.ConnectURL = m.cfg.ConnectURL(up.Name)
	}
	return e
}

// InsufficientScopeError says the upstream keeps refusing for lack of
// scope although the identity authorized with every scope it asked for:
// authorizing again will not help (the step-up retry limit). Disconnect
// resets the count.
type InsufficientScopeError struct {
	// Upstream is the upstream's name.
	Upstream string
	// Scopes are the scopes the upstream asks for.
	Scopes []string
	// Attempts is how many authorizations with those scopes failed.
	Attempts int
}

func (e *InsufficientScopeError) Error() string {
	return fmt.Sprintf("upstream %q still refuses for lack of scope (%s) after %d authorizations with those scopes",
		e.Upstream, strings.Join(e.Scopes, " "), e.Attempts)
}
