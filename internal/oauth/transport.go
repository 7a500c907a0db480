package oauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxStepUps is the insufficient_scope answer in a row (without an
// authorized 200 between them) at which an identity's connection to an
// upstream gets no further step-up authorization (the MCP specification's
// retry limit): the first starts a step-up, the second ends them.
const maxStepUps = 2

// Transport returns an http.RoundTripper sending requests to up as
// identity: each carries identity's bearer token for up (refreshed first
// when it has expired), and nothing else of it. The token is only sent to
// the resource it was issued for (the upstream URL or below it): a
// request elsewhere, such as a redirect to another origin, is an error,
// and a token for another resource than up.URL (the URL changed since
// the authorization) counts as none.
//
// Without a token a request goes out unauthenticated (an upstream may
// serve some requests without one); its 401 is the challenge discovery
// starts from, and RoundTrip answers *AuthorizationRequiredError. A 401 to
// a token is answered by one refresh and retry (when the request body can
// be replayed), else the token is deleted and RoundTrip answers
// *AuthorizationRequiredError. A 403 insufficient_scope is answered
// *AuthorizationRequiredError with the union of the held and asked scopes
// (step-up), or *InsufficientScopeError once the step-up limit is reached.
// The errors reach the caller wrapped in *url.Error: use errors.As.
//
// base sends the requests; nil means http.DefaultTransport.
func (m *Manager) Transport(identity string, up Upstream, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m, identity: identity, up: up, base: base}
}

// transport is the RoundTripper of one identity's connection to one
// upstream.
type transport struct {
	m        *Manager
	identity string
	up       Upstream
	base     http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkUpstream(t.identity, &t.up); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	k := connKey{t.identity, t.up.Name}
	rec, err := t.m.token(ctx, t.identity, &t.up)
	var are *AuthorizationRequiredError
	if err != nil && !errors.As(err, &are) {
		closeBody(req)
		return nil, err
	}
	if rec == nil {
		resp, err := t.base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		ch, _ := ParseChallenge(resp.Header)
		discard(resp)
		t.m.setChallenge(k, ch)
		return nil, t.m.authRequired(&t.up, are.Reason, ch.Scopes)
	}

	// The token goes to its resource only, not to another origin or path
	// (a redirect elsewhere; token refuses a record whose resource does
	// not cover the upstream's URL).
	if !resourceCovers(rec.Resource, req.URL) {
		closeBody(req)
		return nil, fmt.Errorf("oauth: the token of upstream %q is for %s; not sending it to %s://%s%s",
			t.up.Name, rec.Resource, req.URL.Scheme, req.URL.Host, req.URL.EscapedPath())
	}
	resp, err := t.send(req, rec.AccessToken, false)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		ch, _ := ParseChallenge(resp.Header)
		t.m.setChallenge(k, ch)
		replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
		if rec.RefreshToken == "" || !replayable {
			discard(resp)
			return nil, t.rejected(ch)
		}
		discard(resp)
		rec, err = t.m.refresh(ctx, t.identity, &t.up, rec.AccessToken)
		if err != nil {
			return nil, err
		}
		if resp, err = t.send(req, rec.AccessToken, true); err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized {
			ch, _ := ParseChallenge(resp.Header)
			t.m.setChallenge(k, ch)
			discard(resp)
			return nil, t.rejected(ch)
		}
	}
	if resp.StatusCode == http.StatusForbidden {
		if ch, ok := ParseChallenge(resp.Header); ok && ch.InsufficientScope() {
			discard(resp)
			return nil, t.stepUp(k, rec, ch)
		}
	}
	if resp.StatusCode == http.StatusOK {
		t.m.mu.Lock()
		delete(t.m.stepUps, k)
		t.m.mu.Unlock()
	}
	return resp, nil
}

// send sends a copy of req with token; replay sends a fresh copy of its
// body.
func (t *transport) send(req *http.Request, token string, replay bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if replay && req.GetBody != nil {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = b
	}
	r.Header.Set("Authorization", "Bearer "+token)
	return t.base.RoundTrip(r)
}

// rejected deletes the token the upstream refused and says the identity
// must authorize again.
func (t *transport) rejected(ch Challenge) error {
	if err := t.m.cfg.Store.del(tokenOwner(t.identity, t.up.Name)); err != nil {
		t.m.log.Warn("oauth: deleting a rejected token", "upstream", t.up.Name, "err", err)
	}
	t.m.indexUpdate(t.up.Name, t.identity, false)
	t.m.log.Info("oauth: the upstream rejected the token; the identity must authorize again", "upstream", t.up.Name)
	return t.m.authRequired(&t.up, ReasonRejected, ch.Scopes)
}

// stepUp answers an insufficient_scope challenge to rec: a step-up
// authorization with the held and asked scopes, or the end of step-ups.
func (t *transport) stepUp(k connKey, rec *record, ch Challenge) error {
	t.m.mu.Lock()
	t.m.stepUps[k]++
	n := t.m.stepUps[k]
	t.m.challenges[k] = ch
	t.m.mu.Unlock()
	if n >= maxStepUps {
		t.m.log.Warn("oauth: the upstream keeps asking for scopes; no further step-up", "upstream", t.up.Name, "scopes", ch.Scopes, "attempts", n-1)
		return &InsufficientScopeError{Upstream: t.up.Name, Scopes: ch.Scopes, Attempts: n - 1}
	}
	return t.m.authRequired(&t.up, ReasonInsufficientScope, union(rec.Scopes, ch.Scopes))
}

// setChallenge records the upstream's last challenge to identity.
func (m *Manager) setChallenge(k connKey, ch Challenge) {
	m.mu.Lock()
	m.challenges[k] = ch
	m.mu.Unlock()
}

// discard drains a little of resp's body (so the connection can be
// reused) and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// closeBody closes req's body, as a RoundTripper must on every path.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
