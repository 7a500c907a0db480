package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxDocument bounds a metadata, registration or token response body.
const maxDocument = 1 << 20

// resourceMetadata is an OAuth 2.0 Protected Resource Metadata document
// (RFC 9728 section 2), the fields this package uses.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// serverMetadata is an authorization server's metadata (RFC 8414 section 2,
// or OpenID Connect Discovery 1.0), the fields this package uses.
type serverMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported"`
	// IssParameterSupported is RFC 9207's
	// authorization_response_iss_parameter_supported: the callback then
	// carries iss, and one without it is refused.
	IssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// discovery is what a client needs to know about an upstream to authorize
// to it.
type discovery struct {
	// resource is the upstream's canonical resource URI (RFC 8707), the
	// `resource` parameter of every authorization and token request.
	resource string
	// prmScopes are the protected resource's scopes_supported.
	prmScopes []string
	// as is the chosen authorization server's metadata.
	as serverMetadata
}

// discover finds the upstream's protected resource metadata (at the
// challenge's resource_metadata URL, else at the RFC 9728 well-known URLs,
// path-suffixed first), checks that it describes the upstream, and finds
// the metadata of the first of its authorization servers that answers
// (RFC 8414 and OpenID Connect Discovery, in the MCP specification's
// order), refusing one without PKCE S256.
func (m *Manager) discover(ctx context.Context, upstreamURL string, ch Challenge) (*discovery, error) {
	u, err := url.Parse(upstreamURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("oauth: the upstream URL %q is not an absolute URL", upstreamURL)
	}
	var candidates []string
	if ch.ResourceMetadata != "" {
		candidates = []string{ch.ResourceMetadata}
	} else {
		candidates = resourceMetadataURLs(u)
	}
	var prm resourceMetadata
	var errs []error
	found := false
	for _, c := range candidates {
		if err := m.checkURL(c, "protected resource metadata"); err != nil {
			return nil, err
		}
		if err := m.getJSON(ctx, c, "protected resource metadata", &prm); err != nil {
			errs = append(errs, err)
			continue
		}
		found = true
		break
	}
	if !found {
		return nil, fmt.Errorf("oauth: no protected resource metadata for %s: %w", upstreamURL, errors.Join(errs...))
	}
	if prm.Resource == "" {
		return nil, fmt.Errorf("oauth: the protected resource metadata of %s names no resource", upstreamURL)
	}
	if !resourceCovers(prm.Resource, u) {
		return nil, fmt.Errorf("oauth: the protected resource metadata of %s is for another resource (%s)", upstreamURL, prm.Resource)
	}
	if len(prm.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("oauth: the protected resource metadata of %s names no authorization server", upstreamURL)
	}
	errs = nil
	for _, issuer := range prm.AuthorizationServers {
		as, err := m.serverMetadata(ctx, issuer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return &discovery{resource: prm.Resource, prmScopes: prm.ScopesSupported, as: *as}, nil
	}
	return nil, errors.Join(errs...)
}

// serverMetadata fetches and checks the metadata of the authorization
// server issuer.
func (m *Manager) serverMetadata(ctx context.Context, issuer string) (*serverMetadata, error) {
	iu, err := url.Parse(issuer)
	if err != nil || iu.Scheme == "" || iu.Host == "" || iu.RawQuery != "" || iu.Fragment != "" {
		return nil, fmt.Errorf("oauth: the authorization server %q is not a valid issuer URL", issuer)
	}
	if err := m.checkURL(issuer, "authorization server"); err != nil {
		return nil, err
	}
	var errs []error
	for _, c := range serverMetadataURLs(iu) {
		var md serverMetadata
		if err := m.getJSON(ctx, c, "authorization server metadata", &md); err != nil {
			errs = append(errs, err)
			continue
		}
		// RFC 8414 section 3.3: the issuer must be the one the metadata
		// was looked up for, or another server's endpoints could be used.
		if md.Issuer != issuer {
			return nil, fmt.Errorf("oauth: the authorization server metadata at %s is for issuer %q, not %q", c, md.Issuer, issuer)
		}
		if md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" {
			return nil, fmt.Errorf("oauth: the authorization server metadata at %s lacks the authorization or token endpoint", c)
		}
		for what, e := range map[string]string{"authorization endpoint": md.AuthorizationEndpoint, "token endpoint": md.TokenEndpoint, "registration endpoint": md.RegistrationEndpoint} {
			if e == "" {
				continue
			}
			if err := m.checkURL(e, what); err != nil {
				return nil, err
			}
		}
		// The MCP specification: without code_challenge_methods_supported
		// listing S256, the client must refuse to proceed.
		if !slices.Contains(md.CodeChallengeMethodsSupported, "S256") {
			return nil, fmt.Errorf("oauth: the authorization server %s does not support PKCE with S256 (code_challenge_methods_supported: %v); refusing to authorize", issuer, md.CodeChallengeMethodsSupported)
		}
		return &md, nil
	}
	return nil, fmt.Errorf("oauth: no metadata for the authorization server %s: %w", issuer, errors.Join(errs...))
}

// resourceMetadataURLs are the RFC 9728 well-known URLs of the protected
// resource metadata of u, in the MCP specification's order: with u's path
// appended, then at the root.
func resourceMetadataURLs(u *url.URL) []string {
	origin := u.Scheme + "://" + u.Host
	const wk = "/.well-known/oauth-protected-resource"
	var out []string
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" {
		out = append(out, origin+wk+p)
	}
	return append(out, origin+wk)
}

// serverMetadataURLs are the metadata URLs of the issuer iu, in the MCP
// specification's order: for an issuer with a path, RFC 8414 and OpenID
// Connect with the well-known segment inserted before the path, then
// OpenID Connect appended to the path; for one without, RFC 8414 then
// OpenID Connect.
func serverMetadataURLs(iu *url.URL) []string {
	origin := iu.Scheme + "://" + iu.Host
	if p := strings.TrimSuffix(iu.EscapedPath(), "/"); p != "" {
		return []string{
			origin + "/.well-known/oauth-authorization-server" + p,
			origin + "/.well-known/openid-configuration" + p,
			origin + p + "/.well-known/openid-configuration",
		}
	}
	return []string{
		origin + "/.well-known/oauth-authorization-server",
		origin + "/.well-known/openid-configuration",
	}
}

// resourceCovers reports whether the protected resource identifier res
// covers the upstream URL u: same scheme, host and port, and u's path is
// res's path or below it (RFC 9728 section 3.3 asks for the resource the
// client asked about; a server may name the resource by a prefix of the
// MCP endpoint, e.g. its origin).
func resourceCovers(res string, u *url.URL) bool {
	r, err := url.Parse(res)
	if err != nil || r.Fragment != "" || r.Scheme == "" {
		return false
	}
	if !strings.EqualFold(r.Scheme, u.Scheme) || !strings.EqualFold(hostPort(r), hostPort(u)) {
		return false
	}
	rp := strings.TrimSuffix(r.EscapedPath(), "/") + "/"
	up := strings.TrimSuffix(u.EscapedPath(), "/") + "/"
	return strings.HasPrefix(up, rp)
}

// hostPort is u's host with the scheme's default port made explicit.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return net.JoinHostPort(u.Hostname(), "443")
	case "http":
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}

// checkURL refuses a URL this package would send requests (and secrets)
// to that is not HTTPS, but for loopback hosts and with
// Config.InsecureHTTP (the MCP specification: every authorization server
// endpoint is served over HTTPS).
func (m *Manager) checkURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("oauth: the %s URL %q is not an absolute URL", what, raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (m.cfg.InsecureHTTP || isLoopback(u.Hostname())):
		return nil
	}
	return fmt.Errorf("oauth: the %s URL %s is not HTTPS", what, raw)
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// getJSON fetches the JSON document at u into v. A status other than 200
// is an error naming the document and the status.
func (m *Manager) getJSON(ctx context.Context, u, what string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("oauth: %s at %s: %w", what, u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("oauth: fetching the %s at %s: %w", what, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
		return fmt.Errorf("oauth: the %s at %s: HTTP %d", what, u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocument)).Decode(v); err != nil {
		return fmt.Errorf("oauth: the %s at %s is not valid JSON: %w", what, u, err)
	}
	return nil
}
