// Package oauth makes tsmcp an OAuth 2.1 client of remote MCP upstreams,
// per tailnet identity, following the MCP authorization specification
// (revision 2025-11-25): discovery from the upstream's 401 (RFC 9728
// protected resource metadata, RFC 8414 and OpenID Connect discovery of
// the authorization server), a pre-registered client, a Client ID
// Metadata Document or dynamic client registration (RFC 7591), the
// authorization code grant with PKCE S256, `state` and the RFC 8707
// `resource` parameter, refresh with rotation, and step-up authorization
// on insufficient_scope.
//
// The host owns the HTTP pages: Manager.Start gives the URL to send the
// caller's browser to, Manager.Finish takes the callback, and
// Manager.Transport sends each identity's requests to the upstream with
// that identity's token, answering *AuthorizationRequiredError when the
// identity must (re)authorize. Tokens are sealed (AES-256-GCM) in an
// ipn.StateStore (Store); no token value is ever logged or put in an
// error.
//
// Started authorizations (state, PKCE verifier) live in the Manager's
// memory for Config.StateTTL: the callback must reach the process that
// started the flow. Tokens and dynamic registrations live in the Store:
// replicas share them only through a store they all read and write.
package oauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DefaultStateTTL is how long an authorization started by Start can be
// finished when Config.StateTTL is zero.
const DefaultStateTTL = 10 * time.Minute

// Config configures a Manager.
type Config struct {
	// Store keeps tokens and dynamic registrations. Required.
	Store *Store
	// RedirectURL is the callback URL the authorization server sends the
	// browser back to (the host's /oauth/callback). Required; an HTTPS
	// URL or a loopback one.
	RedirectURL string
	// ClientMetadataURL is the HTTPS URL of tsmcp's Client ID Metadata
	// Document (see ClientMetadataDocument), used as the client_id with
	// authorization servers that accept them. Empty: never used.
	ClientMetadataURL string
	// ClientName is the client_name tsmcp registers with. Empty: "tsmcp".
	ClientName string
	// HTTPClient sends the requests to the upstream's metadata and to
	// authorization servers. Nil: a client with a 30s timeout.
	HTTPClient *http.Client
	// ConnectURL returns the URL of the host's page that starts the
	// authorization for an upstream (/connect/<upstream>), put in
	// AuthorizationRequiredError. Nil: no URL.
	ConnectURL func(upstream string) string
	// StateTTL is how long a started authorization can be finished.
	// Zero: DefaultStateTTL.
	StateTTL time.Duration
	// InsecureHTTP allows plain-HTTP authorization servers, metadata and
	// redirect URLs on non-loopback hosts. False: HTTPS only, but for
	// loopback hosts (and AllowHTTPRedirect).
	InsecureHTTP bool
	// AllowHTTPRedirect allows a plain-HTTP RedirectURL on any host, for a
	// callback served on the tailnet (http://<host>/oauth/callback: the
	// browser reaches it over WireGuard; PKCE keeps an intercepted code
	// useless). The MCP specification asks for HTTPS or localhost, and an
	// authorization server may refuse such a redirect URI. False: HTTPS or
	// loopback only.
	AllowHTTPRedirect bool
	// Logger receives what happens, never a token or secret. Nil: discard.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Observe gets an Event for each refresh, finished or refused
	// authorization and disconnection (see Event), called synchronously
	// with no lock of the Manager held; it must not block. Nil: none.
	Observe func(Event)
}

// Upstream is a remote MCP server whose callers authorize per identity.
type Upstream struct {
	// Name is the upstream's configured name; it names the token with the
	// identity. Required.
	Name string
	// URL is the upstream's MCP endpoint. Required.
	URL string
	// ClientID is a client pre-registered with the upstream's
	// authorization server. Empty: a Client ID Metadata Document or a
	// dynamic registration.
	ClientID string
	// ClientSecret is ClientID's secret. Empty: a public client.
	ClientSecret string
	// Scopes are requested when neither the upstream's challenge nor its
	// metadata names any. Nil: no scope parameter then.
	Scopes []string
}

// Manager runs the authorizations of every identity to every upstream and
// keeps their tokens. It is safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex // guards the fields below
	// pending are the started authorizations by the SHA-256 of their state.
	pending map[[32]byte]*pendingAuth
	// challenges are the last challenge each identity got from each
	// upstream, for the next Start.
	challenges map[connKey]Challenge
	// stepUps count, per identity and upstream, the insufficient_scope
	// answers to tokens that already had every scope asked for.
	stepUps map[connKey]int
	// locks serialize the token refreshes of each identity and upstream.
	locks map[connKey]*sync.Mutex

	indexMu sync.Mutex // serializes this process's updates of the index records

	regMu sync.Mutex // guards the field below
	// registrations are the dynamic registrations by issuer.
	registrations map[string]clientInfo
}

// connKey names an identity's connection to an upstream.
type connKey struct{ identity, upstream string }

// NewManager checks cfg and returns a Manager.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("oauth: Config.Store is required")
	}
	ru, err := url.Parse(cfg.RedirectURL)
	if err != nil || ru.Host == "" || (ru.Scheme != "https" && !(ru.Scheme == "http" && (isLoopback(ru.Hostname()) || cfg.InsecureHTTP || cfg.AllowHTTPRedirect))) || ru.Fragment != "" {
		return nil, fmt.Errorf("oauth: the redirect URL %q is not an absolute HTTPS (or loopback HTTP) URL without a fragment", cfg.RedirectURL)
	}
	if cfg.ClientMetadataURL != "" {
		cu, err := url.Parse(cfg.ClientMetadataURL)
		if err != nil || cu.Scheme != "https" || cu.Host == "" || cu.Path == "" || cu.Path == "/" || cu.Fragment != "" {
			return nil, fmt.Errorf("oauth: the client metadata URL %q is not an HTTPS URL with a path", cfg.ClientMetadataURL)
		}
	}
	if cfg.ClientName == "" {
		cfg.ClientName = "tsmcp"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = DefaultStateTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:           cfg,
		log:           log,
		pending:       map[[32]byte]*pendingAuth{},
		challenges:    map[connKey]Challenge{},
		stepUps:       map[connKey]int{},
		locks:         map[connKey]*sync.Mutex{},
		registrations: map[string]clientInfo{},
	}, nil
}

// ClientMetadataDocument is tsmcp's Client ID Metadata Document, for the
// host to serve at Config.ClientMetadataURL (as application/json).
func (m *Manager) ClientMetadataDocument() map[string]any {
	return map[string]any{
		"client_id":                  m.cfg.ClientMetadataURL,
		"client_name":                m.cfg.ClientName,
		"redirect_uris":              []string{m.cfg.RedirectURL},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": authNone,
	}
}

// ConnectURL is the host's page starting the authorization to upstream
// (Config.ConnectURL); empty when not configured.
func (m *Manager) ConnectURL(upstream string) string {
	if m.cfg.ConnectURL == nil {
		return ""
	}
	return m.cfg.ConnectURL(upstream)
}

// checkUpstream refuses an Upstream without a name or URL.
func checkUpstream(identity string, up *Upstream) error {
	switch {
	case identity == "":
		return errors.New("oauth: no identity")
	case up == nil || up.Name == "" || up.URL == "":
		return errors.New("oauth: the upstream needs a name and a URL")
	}
	return nil
}

// lock returns the mutex serializing k's refreshes.
func (m *Manager) lock(k connKey) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[k]
	if !ok {
		l = &sync.Mutex{}
		m.locks[k] = l
	}
	return l
}
