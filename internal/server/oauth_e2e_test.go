package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// The end-to-end proof of upstreams with auth: an authorization server
// nobody here wrote (zitadel's example OpenID provider, from the Go
// module proxy, with its own login page), an MCP server that requires
// bearer tokens (the official Go SDK's auth middleware, checking each
// token at the provider's userinfo endpoint) whose tool answers the
// token's subject, and tsmcp between them on the in-process tailnet.

// asUser is a user of the authorization server: its subject (user ID),
// username and password.
type asUser struct{ id, name, password string }

var (
	asAlice = asUser{"as-alice", "alice", "alice-pw"}
	asBob   = asUser{"as-bob", "bob", "bob-pw"}
)

// asUsers is the provider's user store.
type asUsers map[string]*storage.User

func (u asUsers) GetUserByID(id string) *storage.User {
	for _, v := range u {
		if v.ID == id {
			return v
		}
	}
	return nil
}
func (u asUsers) GetUserByUsername(name string) *storage.User { return u[name] }
func (u asUsers) ExampleClientID() string                     { return "service" }

// oidcProvider is zitadel's example OpenID provider on loopback.
type oidcProvider struct {
	issuer string
	ln     net.Listener
}

// listenProvider reserves the provider's address (its issuer must be
// known before the host starts); serve starts it.
func listenProvider(t *testing.T) *oidcProvider {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &oidcProvider{issuer: "http://" + ln.Addr().String(), ln: ln}
}

// serve starts the provider with the client tsmcp (secret, redirect URI).
func (p *oidcProvider) serve(t *testing.T, secret, redirect string) {
	users := asUsers{}
	for _, u := range []asUser{asAlice, asBob} {
		users[u.name] = &storage.User{ID: u.id, Username: u.name, Password: u.password, FirstName: u.name, Email: u.name + "@as.example", EmailVerified: true}
	}
	st := storage.NewStorageWithClients(users, map[string]*storage.Client{"tsmcp": storage.WebClient("tsmcp", secret, redirect)})
	srv := &http.Server{Handler: exampleop.SetupServer(p.issuer, st, nil, false)}
	go srv.Serve(p.ln)
	t.Cleanup(func() { srv.Close() })
}

// subjectOf asks the provider's userinfo endpoint whose token tok is.
func (p *oidcProvider) subjectOf(ctx context.Context, tok string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ui struct {
		Sub string `json:"sub"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ui) != nil || ui.Sub == "" {
		return "", fmt.Errorf("%w: userinfo status %d", auth.ErrInvalidToken, resp.StatusCode)
	}
	return ui.Sub, nil
}

// bearerRequest is what the protected MCP server saw of one request: the
// caller tsmcp named (X-Tsmcp-Caller-Login; empty for the listing
// session) and whose token it carried (empty: none or invalid).
// bearerRequest is one request the protected server saw: for whom
// (X-Tsmcp-Caller-Login), with which token's subject, in which protocol
// version (its MCP-Protocol-Version header) and of which method (its
// Mcp-Method header, 2026-07-28 only).
type bearerRequest struct{ caller, subject, version, method string }

// protectedMCP is an MCP server that requires bearer tokens of the
// provider; its tool whoami answers the token's subject.
type protectedMCP struct {
	url string

	mu   sync.Mutex // guards the fields below
	seen []bearerRequest
	// revoked are subjects whose tokens the server refuses (401), as
	// after a revoked grant.
	revoked map[string]bool
}

// revoke makes the server refuse sub's tokens (or accept them again).
func (pm *protectedMCP) revoke(sub string, revoked bool) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.revoked == nil {
		pm.revoked = map[string]bool{}
	}
	pm.revoked[sub] = revoked
}

func startProtectedMCP(t *testing.T, as *oidcProvider) *protectedMCP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	pm := &protectedMCP{url: base + "/mcp"}
	srv := sdk.NewServer(&sdk.Implementation{Name: "protected", Version: "1"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "whoami", Description: "the token's subject"},
		func(_ context.Context, req *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "subject " + req.Extra.TokenInfo.UserID}}}, nil, nil
		})
	srv.AddPrompt(&sdk.Prompt{Name: "greeting", Description: "greets the token's subject"},
		func(_ context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: "hello " + req.Extra.TokenInfo.UserID}}}}, nil
		})
	verify := func(ctx context.Context, tok string, r *http.Request) (*auth.TokenInfo, error) {
		sub, err := as.subjectOf(ctx, tok)
		pm.mu.Lock()
		pm.seen = append(pm.seen, bearerRequest{caller: r.Header.Get("X-Tsmcp-Caller-Login"), subject: sub,
			version: r.Header.Get("MCP-Protocol-Version"), method: r.Header.Get("Mcp-Method")})
		revoked := pm.revoked[sub]
		pm.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if revoked {
			return nil, fmt.Errorf("%w: revoked", auth.ErrInvalidToken)
		}
		return &auth.TokenInfo{UserID: sub, Expiration: time.Now().Add(time.Hour)}, nil
	}
	prm := base + "/.well-known/oauth-protected-resource/mcp"
	mux := http.NewServeMux()
	mux.Handle("/.well-known/oauth-protected-resource/mcp", auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource: pm.url, AuthorizationServers: []string{as.issuer}, ScopesSupported: []string{"openid", "profile", "offline_access"},
	}))
	mux.Handle("/mcp", auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ResourceMetadataURL: prm})(
		// Stateless: the go-sdk serves 2026-07-28 only so (and the
		// session era too).
		sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{Stateless: true})))
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return pm
}

// requests returns what the server saw so far.
func (pm *protectedMCP) requests() []bearerRequest {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	return slices.Clone(pm.seen)
}

// splitTransport sends requests to loopback (the provider) directly and
// everything else (the host) through a caller's tailnet node: a
// caller's browser.
type splitTransport struct{ node http.RoundTripper }

func (s splitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if ip := net.ParseIP(r.URL.Hostname()); ip != nil && ip.IsLoopback() {
		return http.DefaultTransport.RoundTrip(r)
	}
	return s.node.RoundTrip(r)
}

// browserOf is a cookie-keeping client of c that follows redirects until
// stop accepts a URL (nil: always follows).
func browserOf(t *testing.T, c caller, stop func(*url.URL) bool) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: splitTransport{c.httpClient().Transport}, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if stop != nil && stop(r.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// signIn plays u at the provider's login page, from the authorization
// URL on, in hc; it returns the response of the redirect that stop
// accepted.
func signIn(ctx context.Context, t *testing.T, hc *http.Client, authURL string, u asUser) *http.Response {
	t.Helper()
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("the provider did not show its login page: %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	login := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	resp, err = hc.PostForm(login.String(), url.Values{"id": {id}, "username": {u.name}, "password": {u.password}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startAuthHost starts a host on the shared tailnet bridging pm as
// upstream "gh" with auth, for alice and bob (not carol), keeping its
// node state in state and the tokens in the credential store creds
// (mcp.credential_store), which replicas share.
func startAuthHost(ctx context.Context, t *testing.T, tn *tailnet, name, state, creds string, pm *protectedMCP, logs *logBuffer) *server.Server {
	t.Helper()
	cs := tn.callers()
	host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, _ *server.Options) {
		c.Tailnet.State = state
		c.Tailnet.Ephemeral = false
		c.MCP.CredentialKey = strings.Repeat("c3", 32)
		c.MCP.CredentialStore = creds
		// protocol: auto: the 2026-07-28 callers' requests go through
		// the lane, each with the caller's own token.
		c.Upstreams = []config.Upstream{{Name: "gh", URL: pm.url, Timeout: 30 * time.Second, Protocol: config.ProtocolAuto,
			Auth: &config.UpstreamAuth{Type: "oauth", ClientID: "tsmcp", ClientSecret: "tsmcp-secret", Scopes: []string{"openid", "profile", "offline_access"}}}}
		c.ACL = acl.Config{Capability: acl.DefaultCapability, Rules: []acl.Rule{
			{Src: []string{cs[0].login, cs[1].login}, Tools: []string{"gh__*"}, Prompts: []string{"gh__*"}},
			{Src: []string{"*"}, Tools: []string{"whoami"}},
		}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return host
}

// identityPage is the part of the identity page's JSON these tests read.
type identityPage struct {
	FullURL     string `json:"full_url"`
	Connections []struct {
		Upstream  string `json:"upstream"`
		Connected bool   `json:"connected"`
		Subject   string `json:"subject"`
		URL       string `json:"url"`
	} `json:"connections"`
}

// wantOAuthMetrics scrapes /metrics on h's health listener and checks
// each series (name{labels}) has the value wanted, and that no series
// names a caller (login or upstream subject).
func wantOAuthMetrics(t *testing.T, h *server.Server, want map[string]float64, callers ...string) {
	t.Helper()
	_, body := get(t, http.DefaultClient, "http://"+h.HealthAddr().String()+"/metrics")
	for series, v := range want {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("/metrics has no %s", series)
			continue
		}
		if got, err := strconv.ParseFloat(m[1], 64); err != nil || got != v {
			t.Errorf("%s = %s, want %v", series, m[1], v)
		}
	}
	for _, c := range callers {
		if strings.Contains(body, c) {
			t.Errorf("/metrics names the caller %q", c)
		}
	}
}

func pageOf(t *testing.T, c caller, hostURL string) identityPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hostURL+"/", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p identityPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// callText calls tool in s and returns its text, or the error.
func callText(ctx context.Context, s *sdk.ClientSession, tool string) (string, bool, error) {
	res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: tool})
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError, nil
}

// waitTool waits until s lists tool.
func waitTool(ctx context.Context, t *testing.T, s *sdk.ClientSession, tool string) {
	t.Helper()
	for !slices.Contains(toolNames(ctx, t, s), tool) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s never listed; tools %q", tool, toolNames(context.Background(), t, s))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestActAsTheCaller: alice connects the upstream "gh" in headless
// Chromium through her own tailnet node (the provider's login page, then
// the host's callback), and her calls reach the upstream with her
// subject; bob, without a token, is sent to the connect page (a URL
// elicitation, or a tool error with the link), and none of his requests
// ever carries alice's token; a callback of alice's flow opened from
// bob's node is refused; carol, whom the policy does not allow the
// upstream, cannot even start; a foreign page cannot disconnect alice;
// Disconnect deletes her token; and tokens outlive a restart of the host
// (same state directory).
func TestActAsTheCaller(t *testing.T) {
	chromium := chromiumPath(t)
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, carol := cs[0], cs[1], tn.carolCaller()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	as := listenProvider(t)
	pm := startProtectedMCP(t, as)
	state, creds := t.TempDir(), "dir:"+t.TempDir()
	logs := &logBuffer{}
	host := startAuthHost(ctx, t, tn, "oauth-host", state, creds, pm, logs)
	hostURL := "http://" + host.TailnetIP().String()
	fullURL := pageOf(t, alice, hostURL).FullURL
	if fullURL == "" {
		t.Fatal("the identity page names no MagicDNS URL")
	}
	base := strings.TrimSuffix(fullURL, "/mcp")
	as.serve(t, "tsmcp-secret", base+"/oauth/callback")
	connectURL := base + "/connect/gh"

	aliceMCP := streamableSession(ctx, t, hostURL+"/mcp", alice)
	t.Run("before anybody connected the upstream lists nothing, the page offers Connect", func(t *testing.T) {
		if names := toolNames(ctx, t, aliceMCP); slices.Contains(names, "gh__whoami") {
			t.Errorf("alice sees %q before anybody connected", names)
		}
		p := pageOf(t, alice, hostURL)
		if len(p.Connections) != 1 || p.Connections[0].Upstream != "gh" || p.Connections[0].Connected || p.Connections[0].URL != "/connect/gh" {
			t.Errorf("alice's connections: %+v", p.Connections)
		}
		if p := pageOf(t, carol, hostURL); len(p.Connections) != 0 {
			t.Errorf("carol, whom the policy does not allow gh, sees connections %+v", p.Connections)
		}
		resp, err := browserOf(t, carol, func(*url.URL) bool { return true }).Get(connectURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("carol's /connect/gh: status %d, want 404", resp.StatusCode)
		}
		wantOAuthMetrics(t, host, map[string]float64{
			`tsmcp_oauth_connected_identities{upstream="gh"}`:               0,
			`tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"}`:  0,
			`tsmcp_oauth_token_refreshes_total{outcome="ok",upstream="gh"}`: 0,
		})
	})

	t.Run("alice connects in Chromium through her node", func(t *testing.T) {
		proxy := serveLoopback(t, relayThrough(t, alice, ""))
		b := startCDPBrowser(t, chromium, connectURL, "--proxy-server=http://"+proxy)
		page, err := b.attach(ctx, func(ti cdpTarget) bool { return ti.Type == "page" })
		if err != nil {
			t.Fatal(err)
		}
		// The page navigates (host, provider, host): evaluations fail
		// while a new document has no context yet.
		settle := func(expr string) string {
			for {
				var v string
				if err := b.eval(ctx, page, expr, &v); err == nil && v != "" {
					return v
				}
				select {
				case <-ctx.Done():
					t.Fatalf("waiting for %s: %v", expr, ctx.Err())
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		fill := fmt.Sprintf(`(() => { const u = document.getElementById("username"); if (!u || document.readyState !== "complete") return "";
			u.value = %q; document.getElementById("password").value = %q; document.forms[0].submit(); return "sent"; })()`, asAlice.name, asAlice.password)
		settle(fill)
		result := settle(`document.getElementById("result")?.textContent ?? ""`)
		detail := settle(`document.getElementById("detail")?.textContent ?? ""`)
		if result != "Connected to gh" || !strings.Contains(detail, "as as-alice") {
			t.Fatalf("the callback page says %q: %q", result, detail)
		}
		wantOAuthMetrics(t, host, map[string]float64{
			`tsmcp_oauth_connected_identities{upstream="gh"}`:              1,
			`tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"}`: 1,
		}, alice.login, asAlice.id)
	})

	t.Run("alice's calls carry alice's token", func(t *testing.T) {
		waitTool(ctx, t, aliceMCP, "gh__whoami")
		text, isErr, err := callText(ctx, aliceMCP, "gh__whoami")
		if err != nil || isErr || text != "subject as-alice" {
			t.Fatalf("alice's gh__whoami = %q (error %v, %v)", text, isErr, err)
		}
		// aliceMCP speaks 2026-07-28: her call went through the lane,
		// with her token.
		if !slices.ContainsFunc(pm.requests(), func(r bearerRequest) bool {
			return r.method == "tools/call" && r.version == "2026-07-28" && r.caller == alice.login && r.subject == asAlice.id
		}) {
			t.Errorf("no 2026-07-28 tools/call of alice's reached the upstream with her token: %+v", pm.requests())
		}
		// Her call's audit line names the token it went with: upstream,
		// kind, subject (never the token).
		var audited bool
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"log":"audit"`) && strings.Contains(l, `"tool":"gh__whoami"`) &&
				strings.Contains(l, `"credentials":[{"upstream":"gh","kind":"oauth","subject":"as-alice","expiry":`) {
				audited = true
			}
		}
		if !audited {
			t.Errorf("no audit line of alice's gh__whoami names her OAuth credential:\n%s", logs.String())
		}
		p := pageOf(t, alice, hostURL)
		if len(p.Connections) != 1 || !p.Connections[0].Connected || p.Connections[0].Subject != "as-alice" {
			t.Errorf("alice's connections: %+v", p.Connections)
		}
	})

	t.Run("bob without a token is sent to connect, never gets alice's", func(t *testing.T) {
		peer := &urlPeer{}
		bobURL := peer.connect(ctx, t, hostURL+"/mcp", bob, true)
		waitTool(ctx, t, bobURL, "gh__whoami")
		_, err := bobURL.CallTool(ctx, &sdk.CallToolParams{Name: "gh__whoami"})
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != sdk.CodeURLElicitationRequired {
			t.Fatalf("bob's gh__whoami = %v; want a JSON-RPC error %d", err, sdk.CodeURLElicitationRequired)
		}
		var data struct {
			Elicitations []sdk.ElicitParams `json:"elicitations"`
		}
		if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 || data.Elicitations[0].URL != connectURL || data.Elicitations[0].Mode != "url" {
			t.Fatalf("error data %s (%v); want the connect URL %s", rpcErr.Data, err, connectURL)
		}

		// A prompt of the upstream: the same -32042.
		_, err = bobURL.GetPrompt(ctx, &sdk.GetPromptParams{Name: "gh__greeting"})
		if !errors.As(err, &rpcErr) || rpcErr.Code != sdk.CodeURLElicitationRequired || !strings.Contains(string(rpcErr.Data), connectURL) {
			t.Fatalf("bob's prompts/get gh__greeting = %v; want a JSON-RPC error %d with the connect URL", err, sdk.CodeURLElicitationRequired)
		}

		plain := streamableSession(ctx, t, hostURL+"/mcp", bob) // no URL-mode elicitation
		text, isErr, err := callText(ctx, plain, "gh__whoami")
		if err != nil || !isErr || !strings.Contains(text, connectURL) || strings.Contains(text, "as-alice") {
			t.Fatalf("bob's gh__whoami without URL elicitation = %q (error %v, %v); want a tool error with the link", text, isErr, err)
		}
		if _, err := plain.GetPrompt(ctx, &sdk.GetPromptParams{Name: "gh__greeting"}); err == nil || !strings.Contains(err.Error(), connectURL) || strings.Contains(err.Error(), "as-alice") {
			t.Fatalf("bob's prompts/get gh__greeting without URL elicitation = %v; want an error with the link", err)
		}
		for _, r := range pm.requests() {
			if r.caller == bob.login {
				t.Errorf("a request for bob reached the upstream (with subject %q); bob has no token", r.subject)
			}
			if r.caller == alice.login && r.subject != asAlice.id {
				t.Errorf("a request for alice carried subject %q", r.subject)
			}
		}
	})

	// aliceFlow starts alice's authorization from her node and signs her
	// in; it returns the callback URL the provider sends her browser to,
	// not yet opened.
	aliceFlow := func(t *testing.T) string {
		hc := browserOf(t, alice, func(u *url.URL) bool { return u.Path == "/oauth/callback" })
		resp := signIn(ctx, t, hc, connectURL, asAlice)
		resp.Body.Close()
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") == "" || loc.Query().Get("code") == "" {
			t.Fatalf("the provider answered %d %v (%v), want a redirect to the callback with code and state", resp.StatusCode, loc, err)
		}
		return loc.String()
	}

	t.Run("a callback of alice's flow opened from bob's node is refused", func(t *testing.T) {
		cb := aliceFlow(t)
		resp, err := browserOf(t, bob, nil).Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "as-alice") {
			t.Errorf("bob opening alice's callback: %d %s; want 400", resp.StatusCode, body)
		}
		if p := pageOf(t, bob, hostURL); len(p.Connections) != 1 || p.Connections[0].Connected {
			t.Errorf("bob's connections after opening alice's callback: %+v", p.Connections)
		}
		// Nor can alice finish it now: a state is used once.
		resp, err = browserOf(t, alice, nil).Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("alice replaying a refused callback: %d, want 400", resp.StatusCode)
		}
		wantOAuthMetrics(t, host, map[string]float64{
			`tsmcp_oauth_authorizations_total{outcome="wrong_identity",upstream="gh"}`:      1,
			`tsmcp_oauth_authorizations_total{outcome="unknown_state",upstream="_unknown"}`: 1,
			`tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"}`:                  1,
			`tsmcp_oauth_connected_identities{upstream="gh"}`:                               1,
		}, alice.login, bob.login, asAlice.id)
	})

	disconnect := func(t *testing.T, header, value string) int {
		req, _ := http.NewRequest(http.MethodPost, connectURL+"?disconnect", nil)
		req.Header.Set(header, value)
		resp, err := browserOf(t, alice, func(*url.URL) bool { return true }).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("a foreign page cannot disconnect alice; Disconnect deletes her token", func(t *testing.T) {
		if code := disconnect(t, "Origin", "https://evil.example"); code != http.StatusForbidden {
			t.Errorf("a disconnect from a foreign origin: %d, want 403", code)
		}
		if code := disconnect(t, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
			t.Errorf("a cross-site disconnect without an Origin: %d, want 403", code)
		}
		if text, _, err := callText(ctx, aliceMCP, "gh__whoami"); err != nil || text != "subject as-alice" {
			t.Fatalf("after a foreign disconnect alice's gh__whoami = %q (%v); want still connected", text, err)
		}
		// Alice presses Disconnect on her identity page in Chromium (the
		// page's CSP must let its form post to the host).
		b := startCDPBrowser(t, chromium, base+"/", "--proxy-server=http://"+serveLoopback(t, relayThrough(t, alice, "")))
		page, err := b.attach(ctx, func(ti cdpTarget) bool { return ti.Type == "page" })
		if err != nil {
			t.Fatal(err)
		}
		var state string
		const connState = `document.querySelector('tr.connection[data-upstream="gh"] .state')?.textContent ?? ""`
		if err := b.poll(ctx, page, connState, &state, func() bool { return state != "" }); err != nil || state != "connected" {
			t.Fatalf("alice's identity page shows gh %q (%v), want connected", state, err)
		}
		if err := b.eval(ctx, page, `document.querySelector("button.disconnect").click(); true`, new(any)); err != nil {
			t.Fatal(err)
		}
		for state != "not connected" {
			if err := b.eval(ctx, page, connState, &state); err != nil {
				state = "" // the page is navigating
			}
			select {
			case <-ctx.Done():
				var body string
				b.eval(context.Background(), page, `location.href + " " + document.body.innerText`, &body)
				t.Fatalf("after Disconnect the page shows gh %q: %s", state, body)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if p := pageOf(t, alice, hostURL); len(p.Connections) != 1 || p.Connections[0].Connected {
			t.Errorf("alice's connections after Disconnect: %+v", p.Connections)
		}
		text, isErr, err := callText(ctx, aliceMCP, "gh__whoami")
		if err != nil || !isErr || !strings.Contains(text, connectURL) {
			t.Fatalf("alice's gh__whoami after Disconnect = %q (error %v, %v); want the connect link", text, isErr, err)
		}
		wantOAuthMetrics(t, host, map[string]float64{`tsmcp_oauth_connected_identities{upstream="gh"}`: 0})
	})

	connectAlice := func(t *testing.T) {
		cb := aliceFlow(t)
		resp, err := browserOf(t, alice, nil).Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("alice's callback: %d", resp.StatusCode)
		}
	}

	t.Run("a token the upstream refuses (a revoked grant) is dropped; the caller is asked to connect again", func(t *testing.T) {
		connectAlice(t)
		if text, isErr, err := callText(ctx, aliceMCP, "gh__whoami"); err != nil || isErr || text != "subject as-alice" {
			t.Fatalf("alice's gh__whoami after connecting again = %q (error %v, %v)", text, isErr, err)
		}
		wantOAuthMetrics(t, host, map[string]float64{
			`tsmcp_oauth_connected_identities{upstream="gh"}`:              1,
			`tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"}`: 2,
		})
		pm.revoke(asAlice.id, true)
		defer pm.revoke(asAlice.id, false)
		text, isErr, err := callText(ctx, aliceMCP, "gh__whoami")
		if err != nil || !isErr || !strings.Contains(text, connectURL) || strings.Contains(text, "subject") {
			t.Fatalf("alice's gh__whoami with a revoked grant = %q (error %v, %v); want the connect link", text, isErr, err)
		}
		if p := pageOf(t, alice, hostURL); len(p.Connections) != 1 || p.Connections[0].Connected {
			t.Errorf("alice's connections after the upstream refused her token: %+v", p.Connections)
		}
		// The 401 made the host refresh her token (the provider agreed),
		// the upstream refused the new one too, and it was dropped.
		wantOAuthMetrics(t, host, map[string]float64{
			`tsmcp_oauth_token_refreshes_total{outcome="ok",upstream="gh"}`: 1,
			`tsmcp_oauth_connected_identities{upstream="gh"}`:               0,
		})
		text, isErr, err = callText(ctx, aliceMCP, "gh__whoami")
		if err != nil || !isErr || !strings.Contains(text, connectURL) {
			t.Fatalf("alice's next gh__whoami = %q (error %v, %v); want the connect link", text, isErr, err)
		}
	})

	t.Run("tokens outlive a restart of the host", func(t *testing.T) {
		connectAlice(t)
		host.Close()
		alice.httpClient().CloseIdleConnections()
		host2 := startAuthHost(ctx, t, tn, "oauth-host", state, creds, pm, &logBuffer{})
		if got := "http://" + host2.TailnetIP().String(); got != hostURL {
			t.Fatalf("the restarted host is at %s, want %s", got, hostURL)
		}
		s := streamableSession(ctx, t, hostURL+"/mcp", alice)
		waitTool(ctx, t, s, "gh__whoami")
		text, isErr, err := callText(ctx, s, "gh__whoami")
		if err != nil || isErr || text != "subject as-alice" {
			t.Fatalf("alice's gh__whoami after the restart = %q (error %v, %v)", text, isErr, err)
		}
		// The count is read from the store: alice connected before the
		// restart, and this process never saw her connect.
		wantOAuthMetrics(t, host2, map[string]float64{
			`tsmcp_oauth_connected_identities{upstream="gh"}`:              1,
			`tsmcp_oauth_authorizations_total{outcome="ok",upstream="gh"}`: 0,
		})
	})

	t.Run("a second replica uses the same tokens", func(t *testing.T) {
		// Its own node and state; only the credential store is shared.
		replica := startAuthHost(ctx, t, tn, "oauth-replica", t.TempDir(), creds, pm, &logBuffer{})
		replicaURL := "http://" + replica.TailnetIP().String()
		s := streamableSession(ctx, t, replicaURL+"/mcp", alice)
		waitTool(ctx, t, s, "gh__whoami")
		text, isErr, err := callText(ctx, s, "gh__whoami")
		if err != nil || isErr || text != "subject as-alice" {
			t.Fatalf("alice's gh__whoami on the replica = %q (error %v, %v)", text, isErr, err)
		}
		bobs := streamableSession(ctx, t, replicaURL+"/mcp", bob)
		text, isErr, err = callText(ctx, bobs, "gh__whoami")
		if err != nil || !isErr || !strings.Contains(text, "/connect/gh") || strings.Contains(text, "as-alice") {
			t.Fatalf("bob's gh__whoami on the replica = %q (error %v, %v); want the connect link", text, isErr, err)
		}
		// The replica's identity page shows her connection too.
		if p := pageOf(t, alice, replicaURL); len(p.Connections) != 1 || !p.Connections[0].Connected {
			t.Fatalf("alice's connections on the replica: %+v", p.Connections)
		}
		wantOAuthMetrics(t, replica, map[string]float64{`tsmcp_oauth_connected_identities{upstream="gh"}`: 1}, alice.login, asAlice.id)
	})
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "tsmcp-secret") || strings.Contains(l, strings.Repeat("c3", 32)) {
			t.Errorf("a log line shows a secret: %s", l)
		}
	}
}
