package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/oauth"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// Upstreams with auth (config.Upstream.Auth) act as each caller: every
// caller's session (a per-identity one) sends its requests through
// Options.OAuth's Transport for that caller's credential key
// (identity.CredentialKey), so it carries that caller's token and nobody
// else's. A caller's session is only dialed once the caller holds a
// token: a caller without one is answered, at once, with the link to the
// host's connect page (connectRequired), and a session whose token stops
// working (revoked, refused, disconnected) is stopped rather than
// redialed, and the caller answered the same way.
//
// There is no identity-less discovery session (it would have no token):
// the tool list comes from a catalog session, a session of one connected
// identity (the first to connect, or the first whose session came up)
// used for listing only. Which identity that is, is kept in the node's
// state (Options.State), so the list is back after a restart. Until
// somebody has connected, the upstream lists nothing; the host's identity
// page offers Connect. The policy still decides per caller.

// stateKeyCatalog prefixes the state key naming the catalog identity of
// an upstream with auth.
const stateKeyCatalog = "tsmcp-oauth-catalog-"

// catalog is which connected identity's session lists an upstream with
// auth.
type catalog struct {
	st   ipn.StateStore // nil: kept in memory only
	name ipn.StateKey

	mu      sync.Mutex // guards the fields below
	key     string     // the identity's credential key; "": none yet
	changed chan struct{}
}

func newCatalog(st ipn.StateStore, upstream string) *catalog {
	c := &catalog{st: st, name: ipn.StateKey(stateKeyCatalog + upstream), changed: make(chan struct{})}
	if st != nil {
		if b, err := st.ReadState(c.name); err == nil {
			c.key = string(b)
		}
	}
	return c
}

// offer makes key the catalog identity when there is none.
func (c *catalog) offer(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != "" || key == "" {
		return false
	}
	c.key = key
	if c.st != nil {
		_ = c.st.WriteState(c.name, []byte(key))
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return true
}

// drop forgets key as the catalog identity, if it still is.
func (c *catalog) drop(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != key || key == "" {
		return false
	}
	c.key = ""
	if c.st != nil {
		_ = c.st.WriteState(c.name, nil)
	}
	return true
}

// current returns the catalog identity ("": none).
func (c *catalog) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// wait returns the catalog identity once there is one.
func (c *catalog) wait(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		key, ch := c.key, c.changed
		c.mu.Unlock()
		if key != "" {
			return key, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// newAuth prepares the auth of upstream i from its config: the client
// secret's {{env "NAME"}} resolved.
func newAuth(i int, c config.Upstream, opts Options) (*oauth.Upstream, error) {
	if opts.OAuth == nil {
		return nil, keyError(i, "auth", "needs mcp.credential_key (the host has no token store)")
	}
	if err := checkAuth(i, c, opts.LookupEnv); err != nil {
		return nil, err
	}
	secret, _ := resolveEnv(c.Auth.ClientSecret, opts.LookupEnv)
	return &oauth.Upstream{Name: c.Name, URL: c.URL, ClientID: c.Auth.ClientID, ClientSecret: secret, Scopes: c.Auth.Scopes}, nil
}

// checkAuth reports an upstream's client secret naming an unset
// environment variable (for Check).
func checkAuth(i int, c config.Upstream, lookup func(string) (string, bool)) error {
	if c.Auth == nil {
		return nil
	}
	if _, err := resolveEnv(c.Auth.ClientSecret, lookup); err != nil {
		return keyError(i, "auth.client_secret", "%v", err)
	}
	return nil
}

// resolveEnv evaluates {{env "NAME"}} in s. The error names the variable,
// never a value.
func resolveEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var missing string
	t, err := template.New("v").Funcs(template.FuncMap{"env": func(v string) (string, error) {
		val, ok := lookup(v)
		if !ok {
			missing = v
			return "", fmt.Errorf("environment variable %q is not set", v)
		}
		return val, nil
	}}).Option("missingkey=error").Parse(s)
	if err != nil {
		return "", errors.New(`invalid template (want {{env "NAME"}})`)
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		if missing != "" {
			return "", fmt.Errorf("environment variable %q is not set", missing)
		}
		return "", errors.New(`template failed (only {{env "NAME"}} is available)`)
	}
	return b.String(), nil
}

// remoteAs returns the dialer of the upstream sending as the identity of
// credential key key, with that identity's token.
func (u *upstream) remoteAs(key string) *conn.Remote {
	m, up := u.p.opts.OAuth, *u.auth
	return u.remote.As(func(base http.RoundTripper) http.RoundTripper { return m.Transport(key, up, base) })
}

// needsConnect returns, for an upstream with auth, the error asking the
// caller to connect when it holds no token; nil when it does, and then it
// notes the token (subject and expiry) in ctx's audit credentials.
func (u *upstream) needsConnect(ctx context.Context, caller *callerInfo) error {
	if caller.authKey == "" {
		return errNoIdentity
	}
	c, err := u.p.opts.OAuth.Connection(caller.authKey, u.name)
	if err != nil {
		return fmt.Errorf("reading the caller's token: %w", err)
	}
	if !c.Connected {
		return &oauth.AuthorizationRequiredError{Upstream: u.name, Reason: oauth.ReasonNotConnected, ConnectURL: u.p.opts.OAuth.ConnectURL(u.name)}
	}
	// The audit line of the caller's request names the token it goes
	// with: whose (the subject) and until when, never the token.
	audit.RecordCredential(ctx, audit.Credential{Upstream: u.name, Kind: audit.CredentialOAuth, Subject: c.Subject, Expiry: c.Expiry})
	return nil
}

// dialAuth is the Dial of a supervisor of an upstream with auth: a
// caller's session (caller set), or the catalog session, which waits for
// a catalog identity. A dial the upstream refuses for want of a token
// does not back off and retry: the caller's supervisor stops (its callers
// are sent to connect), the catalog forgets that identity and waits for
// the next.
func (u *upstream) dialAuth(ctx context.Context, caller *callerInfo, sup *supervisor) (*session, error) {
	key := ""
	if caller != nil {
		key = caller.authKey
	} else {
		var err error
		if key, err = u.catalog.wait(ctx); err != nil {
			return nil, err
		}
	}
	s, err := u.dialAs(ctx, caller, key, sup)
	var are *oauth.AuthorizationRequiredError
	switch {
	case err == nil && caller != nil:
		if u.catalog.offer(key) {
			u.log.Info("upstream tools listed from a connected caller's session from now on", "caller", caller.key)
		}
	case errors.As(err, &are) && caller != nil:
		sup.authErr.Store(are)
		sup.Stop()
	case errors.As(err, &are):
		u.catalog.drop(key)
	}
	return s, err
}

// authRequired returns the *oauth.AuthorizationRequiredError in err's
// chain, or the one that stopped sup; nil when there is none.
func authRequired(err error, sup *supervisor) *oauth.AuthorizationRequiredError {
	var are *oauth.AuthorizationRequiredError
	if errors.As(err, &are) {
		return are
	}
	if sup != nil {
		return sup.authErr.Load()
	}
	return nil
}

// connectRequired answers a call of a caller who must connect first: a
// caller on a session that declared URL-mode elicitation gets
// URLElicitationRequiredError (-32042) naming the connect page (urlErr);
// every caller gets res, a tool error carrying the link.
func (u *upstream) connectRequired(ctx context.Context, tool string, are *oauth.AuthorizationRequiredError) (res *mcp.CallToolResult, urlErr *mcp.URLElicitationRequiredError) {
	u.log.Info("upstream call needs the caller to connect", "tool", tool, "reason", are.Reason)
	if are.ConnectURL == "" {
		return mcp.NewToolResultError("upstream " + u.name + " needs your authorization, and the host has no connect page"), nil
	}
	ur, urlMode := u.connectElicitation(ctx, are)
	res = u.urlRequiredResult(ur)
	if urlMode {
		return res, &ur
	}
	return res, nil
}

// connectElicitation is the URL elicitation that sends the caller to the
// connect page, and whether the caller may be answered with it as
// URLElicitationRequiredError (-32042): a session-era client that
// declared URL-mode elicitation.
func (u *upstream) connectElicitation(ctx context.Context, are *oauth.AuthorizationRequiredError) (mcp.URLElicitationRequiredError, bool) {
	ur := mcp.URLElicitationRequiredError{Elicitations: []mcp.ElicitationParams{{
		Mode:          mcp.ElicitationModeURL,
		ElicitationID: "tsmcp-connect-" + randomID(),
		URL:           are.ConnectURL,
		Message:       "Connect " + u.name + " to your account (" + are.Reason + ")",
	}}}
	if server.IsModernRequest(ctx) {
		return ur, false
	}
	caps := callerCaps(ctx)
	return ur, caps != nil && caps.Elicitation != nil && caps.Elicitation.URL != nil
}

// connectError is the error of a request other than a tool call (a
// prompt, a resource read, a completion) of a caller who must connect
// first: -32042 for a client that declared URL-mode elicitation, else a
// *tools.ConnectRequiredError carrying the link; nil when err is not
// about the caller's authorization.
func (u *upstream) connectError(ctx context.Context, err error, sup *supervisor) error {
	are := authRequired(err, sup)
	if are == nil {
		return nil
	}
	u.log.Info("upstream request needs the caller to connect", "reason", are.Reason)
	if are.ConnectURL == "" {
		return fmt.Errorf("upstream %s needs the caller's authorization, and the host has no connect page: %w", u.name, err)
	}
	if ur, urlMode := u.connectElicitation(ctx, are); urlMode {
		return ur
	}
	return &tools.ConnectRequiredError{Upstream: u.name, URL: are.ConnectURL}
}

// randomID is 16 random bytes in hex.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// authStatus is the status of an upstream with auth: it is not down for
// want of a connected caller.
func (u *upstream) authStatus(st tools.Status) tools.Status {
	if st.Up {
		return st
	}
	st.EverUp, st.Starting = true, false
	if u.catalog.current() == "" {
		st.Detail = "no caller has connected yet (tools are listed from a connected caller's session)"
	}
	return st
}

// Connected tells the provider that the identity of credential key key
// now holds a token for upstream: the upstream's tools are listed from
// that identity's session when no connected identity lists them yet.
func (p *Provider) Connected(upstream, key string) {
	for _, u := range p.ups {
		if u.name == upstream && u.auth != nil && u.catalog.offer(key) {
			u.log.Info("upstream tools listed from a connected caller's session from now on")
		}
	}
}

// Disconnected tells the provider that the identity of credential key
// key no longer holds a token for upstream: its sessions to the upstream
// are stopped now (not at their next request), and the catalog session,
// if it was that identity's, ends and waits for another connected
// identity.
func (p *Provider) Disconnected(upstream, key string) {
	for _, u := range p.ups {
		if u.name != upstream || u.auth == nil {
			continue
		}
		u.mu.Lock()
		var stop []*supervisor
		for k, ch := range u.children {
			if strings.HasSuffix(k, childKeySep+key) {
				stop = append(stop, ch.sup)
				delete(u.children, k)
			}
		}
		u.mu.Unlock()
		for _, s := range stop {
			s.Stop()
		}
		if u.catalog.drop(key) {
			if s := u.lister.Live(); s != nil {
				s.Fail("the catalog identity disconnected")
			}
		}
	}
}

// childKeySep separates the caller key from the credential key in the
// children of an upstream with auth.
const childKeySep = " "

// authErrBox holds the error that stopped a caller's supervisor.
type authErrBox = atomic.Pointer[oauth.AuthorizationRequiredError]

// AuthUpstream returns the upstream with auth named name, whether its
// tools are served under its name as prefix, and the served names of the
// tools it lists now; ok is false when there is no such upstream.
func (p *Provider) AuthUpstream(name string) (up oauth.Upstream, prefixed bool, names []string, ok bool) {
	for _, u := range p.ups {
		if u.name == name && u.auth != nil {
			return *u.auth, !u.unprefixed, tools.Names(u.currentTools()), true
		}
	}
	return oauth.Upstream{}, false, nil, false
}

// AuthUpstreams returns the names of the upstreams with auth, in
// configuration order.
func (p *Provider) AuthUpstreams() []string {
	var out []string
	for _, u := range p.ups {
		if u.auth != nil {
			out = append(out, u.name)
		}
	}
	return out
}
