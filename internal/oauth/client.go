package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Token endpoint client authentication methods (RFC 7591 section 2).
const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
	authNone  = "none"
)

// clientInfo is how tsmcp identifies itself to an authorization server.
// It is stored (sealed) with each token, so a refresh needs no discovery.
type clientInfo struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret,omitempty"`
	// AuthMethod is the token endpoint authentication method: one of
	// client_secret_basic, client_secret_post or none.
	AuthMethod string `json:"auth_method"`
	// Kind says where the client came from: "pre-registered",
	// "metadata-document" or "dynamic".
	Kind string `json:"kind"`
}

// client returns the client to use with the authorization server as, in
// the MCP specification's order: the upstream's pre-registered client, a
// Client ID Metadata Document (when the server supports them and one is
// configured), a dynamic registration (RFC 7591; reused once made).
func (m *Manager) client(ctx context.Context, up *Upstream, as *serverMetadata) (clientInfo, error) {
	if up.ClientID != "" {
		c := clientInfo{ID: up.ClientID, Secret: up.ClientSecret, Kind: "pre-registered", AuthMethod: authNone}
		if up.ClientSecret != "" {
			c.AuthMethod = secretMethod(as.TokenEndpointAuthMethodsSupported)
		}
		return c, nil
	}
	if m.cfg.ClientMetadataURL != "" && as.ClientIDMetadataDocumentSupported {
		return clientInfo{ID: m.cfg.ClientMetadataURL, AuthMethod: authNone, Kind: "metadata-document"}, nil
	}
	if as.RegistrationEndpoint == "" {
		return clientInfo{}, fmt.Errorf("oauth: the authorization server %s offers no dynamic client registration%s; configure a client_id for upstream %q",
			as.Issuer, cimdHint(m.cfg.ClientMetadataURL, as), up.Name)
	}
	return m.register(ctx, as)
}

// cimdHint explains why no Client ID Metadata Document was used.
func cimdHint(url string, as *serverMetadata) string {
	if as.ClientIDMetadataDocumentSupported && url == "" {
		return " (it accepts Client ID Metadata Documents, but none is configured)"
	}
	return ""
}

// secretMethod picks how a client with a secret authenticates at a token
// endpoint supporting methods: client_secret_basic when listed (or when
// nothing is, RFC 8414's default), else client_secret_post, else none.
func secretMethod(methods []string) string {
	switch {
	case len(methods) == 0 || slices.Contains(methods, authBasic):
		return authBasic
	case slices.Contains(methods, authPost):
		return authPost
	case slices.Contains(methods, authNone):
		return authNone
	}
	return authBasic
}

// register returns tsmcp's dynamic registration at the authorization
// server, registering once (per issuer and redirect URI) and keeping the
// registration in memory and in the store.
func (m *Manager) register(ctx context.Context, as *serverMetadata) (clientInfo, error) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if c, ok := m.registrations[as.Issuer]; ok {
		return c, nil
	}
	o := registrationOwner(as.Issuer, m.cfg.RedirectURL)
	var c clientInfo
	switch err := m.cfg.Store.get(o, &c); {
	case err == nil && c.ID != "":
		m.registrations[as.Issuer] = c
		return c, nil
	case err != nil && !errors.Is(err, errNoRecord):
		m.log.Warn("oauth: a stored client registration is unusable; registering again", "issuer", as.Issuer, "err", err)
	}
	method := secretMethod(as.TokenEndpointAuthMethodsSupported)
	appType := "web"
	if ru, err := url.Parse(m.cfg.RedirectURL); err == nil && isLoopback(ru.Hostname()) {
		appType = "native"
	}
	body, _ := json.Marshal(map[string]any{
		"client_name":                m.cfg.ClientName,
		"redirect_uris":              []string{m.cfg.RedirectURL},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": method,
		"application_type":           appType,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, as.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return clientInfo{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return clientInfo{}, fmt.Errorf("oauth: registering at %s: %w", as.RegistrationEndpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return clientInfo{}, endpointError("registration endpoint", as.RegistrationEndpoint, resp)
	}
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		AuthMethod   string `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocument)).Decode(&reg); err != nil || reg.ClientID == "" {
		return clientInfo{}, fmt.Errorf("oauth: the registration endpoint %s answered without a client_id", as.RegistrationEndpoint)
	}
	c = clientInfo{ID: reg.ClientID, Secret: reg.ClientSecret, AuthMethod: reg.AuthMethod, Kind: "dynamic"}
	switch {
	case c.AuthMethod == "" && c.Secret == "":
		c.AuthMethod = authNone
	case c.AuthMethod == "":
		c.AuthMethod = method
	case c.AuthMethod != authBasic && c.AuthMethod != authPost && c.AuthMethod != authNone:
		return clientInfo{}, fmt.Errorf("oauth: the registration endpoint %s assigned the unsupported token endpoint authentication %q", as.RegistrationEndpoint, c.AuthMethod)
	}
	if c.AuthMethod != authNone && c.Secret == "" {
		return clientInfo{}, fmt.Errorf("oauth: the registration endpoint %s assigned %s without a client_secret", as.RegistrationEndpoint, c.AuthMethod)
	}
	if err := m.cfg.Store.put(o, c); err != nil {
		return clientInfo{}, err
	}
	m.registrations[as.Issuer] = c
	m.log.Info("oauth: registered as a client", "issuer", as.Issuer, "auth_method", c.AuthMethod)
	return c, nil
}

// tokenResponse is a token endpoint's answer (RFC 6749 section 5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
}

// tokenRequest posts form to the token endpoint, authenticating as c, and
// decodes the answer. An error answer is an *EndpointError.
func (m *Manager) tokenRequest(ctx context.Context, endpoint string, c clientInfo, form url.Values) (*tokenResponse, error) {
	switch c.AuthMethod {
	case authPost:
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	case authNone:
		form.Set("client_id", c.ID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.AuthMethod == authBasic {
		// RFC 6749 section 2.3.1: both form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oauth: the token endpoint %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, endpointError("token endpoint", endpoint, resp)
	}
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocument)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("oauth: the token endpoint %s answered with invalid JSON", endpoint)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("oauth: the token endpoint %s answered without an access token", endpoint)
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "Bearer") {
		return nil, fmt.Errorf("oauth: the token endpoint %s issued a %q token; only Bearer tokens are supported", endpoint, tr.TokenType)
	}
	return &tr, nil
}

// EndpointError is an authorization server endpoint's refusal: which
// endpoint, the HTTP status and the OAuth error it gave. It never holds a
// secret.
type EndpointError struct {
	// Endpoint names the endpoint: "token endpoint", "registration endpoint".
	Endpoint string
	// URL is the endpoint's URL.
	URL string
	// Status is the HTTP status code.
	Status int
	// Code is the OAuth error code (e.g. invalid_grant); empty if none.
	Code string
	// Description is the server's error_description, shortened.
	Description string
}

func (e *EndpointError) Error() string {
	s := fmt.Sprintf("oauth: the %s %s answered HTTP %d", e.Endpoint, e.URL, e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += " (" + e.Description + ")"
	}
	return s
}

// endpointError reads an error answer of an endpoint.
func endpointError(what, endpoint string, resp *http.Response) error {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, maxDocument)).Decode(&body)
	d := body.Description
	if len(d) > 200 {
		d = d[:200] + "…"
	}
	return &EndpointError{Endpoint: what, URL: endpoint, Status: resp.StatusCode, Code: body.Error, Description: d}
}
