package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tailscale.com/ipn/store/mem"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// grant is what a fake token was issued for.
type grant struct {
	subject  string
	scopes   []string
	resource string
	clientID string
}

// codeGrant is a fake authorization code's binding.
type codeGrant struct {
	grant
	challenge string
	redirect  string
}

// fakeAS is an authorization server and an MCP resource server (at /mcp)
// in one httptest server, strict about what the MCP specification asks
// of a client: PKCE S256, the resource parameter, single-use codes,
// rotated refresh tokens.
type fakeAS struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex // guards the fields below
	// md overrides (or, set to nil, removes) authorization server
	// metadata fields.
	md map[string]any
	// prmScopes is the resource's scopes_supported (nil: absent).
	prmScopes []string
	// prmResource overrides the resource its metadata names.
	prmResource string
	// withhold is a scope never granted, whatever is asked.
	withhold string
	// issued are every token and secret handed out.
	issued []string
	// challengeScope is the scope of the resource's 401 (empty: none).
	challengeScope string
	// requiredScope is a scope the resource answers 403
	// insufficient_scope without.
	requiredScope string
	// subject is whom the next authorization approves.
	subject string
	// expiresIn is the expires_in of issued tokens (0: absent).
	expiresIn int
	// authMethods is token_endpoint_auth_methods_supported.
	authMethods []string
	// registrationMethod is what a dynamic registration assigns.
	registrationMethod string

	codes   map[string]codeGrant
	access  map[string]grant
	refresh map[string]grant
	n       int
	// tokenAuth records how each token request authenticated.
	tokenAuth []string
	// authRequests are the authorization requests' queries.
	authRequests []url.Values
	// bearers are the Authorization headers /mcp received.
	bearers []string
	// registrations counts dynamic registrations.
	registrations int
	// clients are the registered clients' secrets by ID.
	clients map[string]string
	// idTokens makes the token endpoint send an (unsigned) id_token
	// naming the grant's subject.
	idTokens bool
	// refreshSubject, when set, is the subject a refresh answers for
	// (a confused authorization server).
	refreshSubject string
	// onRefresh, when set, runs once before the next refresh_token
	// request is handled (outside the lock).
	onRefresh func()
}

func newFakeAS(t *testing.T) *fakeAS {
	f := &fakeAS{t: t, subject: "alice-upstream", md: map[string]any{}, codes: map[string]codeGrant{},
		access: map[string]grant{}, refresh: map[string]grant{}, clients: map[string]string{},
		authMethods: []string{authBasic, authPost, authNone}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", f.prm)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", f.metadata)
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("POST /register", f.register)
	mux.HandleFunc("/mcp", f.mcp)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAS) url() string      { return f.srv.URL }
func (f *fakeAS) resource() string { return f.srv.URL + "/mcp" }

func (f *fakeAS) prm(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc := map[string]any{"resource": f.resource(), "authorization_servers": []string{f.url()}}
	if f.prmResource != "" {
		doc["resource"] = f.prmResource
	}
	if f.prmScopes != nil {
		doc["scopes_supported"] = f.prmScopes
	}
	json.NewEncoder(w).Encode(doc)
}

func (f *fakeAS) metadata(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	md := map[string]any{
		"issuer":                                         f.url(),
		"authorization_endpoint":                         f.url() + "/authorize",
		"token_endpoint":                                 f.url() + "/token",
		"registration_endpoint":                          f.url() + "/register",
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          f.authMethods,
		"response_types_supported":                       []string{"code"},
		"authorization_response_iss_parameter_supported": true,
	}
	for k, v := range f.md {
		if v == nil {
			delete(md, k)
		} else {
			md[k] = v
		}
	}
	json.NewEncoder(w).Encode(md)
}

// authorize approves at once as f.subject and redirects with a code.
func (f *fakeAS) authorize(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.authRequests = append(f.authRequests, q)
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("resource") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	f.n++
	code := fmt.Sprintf("code-%d-%s", f.n, rand.Text())
	f.issued = append(f.issued, code)
	f.codes[code] = codeGrant{grant: grant{subject: f.subject, scopes: strings.Fields(q.Get("scope")), resource: q.Get("resource"), clientID: q.Get("client_id")},
		challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	ru, _ := url.Parse(q.Get("redirect_uri"))
	rq := ru.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	rq.Set("iss", f.url())
	ru.RawQuery = rq.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (f *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	if r.PostForm.Get("grant_type") == "refresh_token" {
		f.mu.Lock()
		hook := f.onRefresh
		f.onRefresh = nil
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	method := authNone
	id := r.PostForm.Get("client_id")
	if u, p, ok := r.BasicAuth(); ok {
		method = authBasic
		id, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		if s, known := f.clients[id]; known && s != p {
			tokenError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
	} else if s := r.PostForm.Get("client_secret"); s != "" {
		method = authPost
		if known, ok := f.clients[id]; ok && known != s {
			tokenError(w, http.StatusUnauthorized, "invalid_client")
			return
		}
	}
	f.tokenAuth = append(f.tokenAuth, method)
	var g grant
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		c, ok := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code")) // single use
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok:
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			tokenError(w, http.StatusBadRequest, "invalid_grant") // PKCE
			return
		case r.PostForm.Get("redirect_uri") != c.redirect || r.PostForm.Get("resource") != c.resource || id != c.clientID:
			tokenError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		g = c.grant
	case "refresh_token":
		old, ok := f.refresh[r.PostForm.Get("refresh_token")]
		delete(f.refresh, r.PostForm.Get("refresh_token")) // rotated
		if !ok || r.PostForm.Get("resource") != old.resource {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		g = old
		if f.refreshSubject != "" {
			g.subject = f.refreshSubject
		}
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	f.n++
	at, rt := fmt.Sprintf("at-%d-%s", f.n, rand.Text()), fmt.Sprintf("rt-%d-%s", f.n, rand.Text())
	g.scopes = slices.DeleteFunc(slices.Clone(g.scopes), func(s string) bool { return s == f.withhold })
	f.access[at], f.refresh[rt] = g, g
	f.issued = append(f.issued, at, rt)
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt, "scope": strings.Join(g.scopes, " ")}
	if f.expiresIn > 0 {
		resp["expires_in"] = f.expiresIn
	}
	if f.idTokens {
		claims, _ := json.Marshal(map[string]string{"sub": g.subject})
		resp["id_token"] = "e30." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
	}
	json.NewEncoder(w).Encode(resp)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (f *fakeAS) register(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var req struct {
		RedirectURIs []string `json:"redirect_uris"`
		Method       string   `json:"token_endpoint_auth_method"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || len(req.RedirectURIs) != 1 {
		tokenError(w, http.StatusBadRequest, "invalid_client_metadata")
		return
	}
	f.registrations++
	id := fmt.Sprintf("dyn-%d", f.registrations)
	method := f.registrationMethod
	if method == "" {
		method = req.Method
	}
	resp := map[string]any{"client_id": id, "token_endpoint_auth_method": method}
	if method != authNone {
		secret := "dyn-secret-" + rand.Text()
		f.clients[id] = secret
		f.issued = append(f.issued, secret)
		resp["client_secret"] = secret
	}
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(resp)
}

// mcp is the resource: 200 "hello <subject>" for a valid token for it.
func (f *fakeAS) mcp(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := r.Header.Get("Authorization")
	f.bearers = append(f.bearers, h)
	g, ok := f.access[strings.TrimPrefix(h, "Bearer ")]
	if !ok || g.resource != f.resource() {
		c := fmt.Sprintf(`Bearer error="invalid_token", resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, f.url())
		if f.challengeScope != "" {
			c += fmt.Sprintf(`, scope="%s"`, f.challengeScope)
		}
		w.Header().Set("WWW-Authenticate", c)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.requiredScope != "" && !slices.Contains(g.scopes, f.requiredScope) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s", resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, f.requiredScope, f.url()))
		w.WriteHeader(http.StatusForbidden)
		return
	}
	fmt.Fprintf(w, "hello %s", g.subject)
}

// revoke forgets every token of subject (a revoked grant).
func (f *fakeAS) revoke(subject string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, g := range f.access {
		if g.subject == subject {
			delete(f.access, k)
		}
	}
	for k, g := range f.refresh {
		if g.subject == subject {
			delete(f.refresh, k)
		}
	}
}

// expireAccess forgets every access token (as if all expired at the
// resource), keeping the refresh tokens.
func (f *fakeAS) expireAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.access)
}

// set runs fn with f locked.
func (f *fakeAS) set(fn func(f *fakeAS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// env is a Manager with its store and log, talking to a fakeAS.
type env struct {
	m     *Manager
	st    *mem.Store
	store *Store
	logs  *testutil.Buffer
	as    *fakeAS
	up    Upstream
	now   time.Time
	nowMu sync.Mutex
}

const redirectURL = "http://127.0.0.1:9/oauth/callback"

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	e := &env{as: newFakeAS(t), st: &mem.Store{}, logs: &testutil.Buffer{}, now: time.Now()}
	key := make([]byte, KeySize)
	rand.Read(key)
	var err error
	if e.store, err = NewStore(e.st, key); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store:       e.store,
		RedirectURL: redirectURL,
		Logger:      slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         e.clock,
		ConnectURL:  func(up string) string { return "http://tsmcp.example.ts.net/connect/" + up },
	}
	for _, f := range mod {
		f(&cfg)
	}
	if e.m, err = NewManager(cfg); err != nil {
		t.Fatal(err)
	}
	e.up = Upstream{Name: "files", URL: e.as.resource()}
	return e
}

func (e *env) clock() time.Time {
	e.nowMu.Lock()
	defer e.nowMu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.nowMu.Lock()
	e.now = e.now.Add(d)
	e.nowMu.Unlock()
}

// browse follows an authorization URL as a browser would, up to the
// redirect to the callback, and returns the callback's query.
func browse(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("the authorization endpoint answered %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURL) {
		t.Fatalf("redirected to %q, not the callback", resp.Header.Get("Location"))
	}
	return loc.Query()
}

// connect runs a whole authorization of identity to e.up.
func (e *env) connect(t *testing.T, identity string) *Connection {
	t.Helper()
	a, err := e.m.Start(context.Background(), identity, &e.up)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c, err := e.m.Finish(context.Background(), identity, CallbackFromQuery(browse(t, a.URL)))
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return c
}

// get sends a request to the resource as identity through the Transport.
// replica returns an env with a Manager of its own on the same store and
// authorization server: another replica of the host.
func (e *env) replica(t *testing.T) *env {
	r := &env{st: e.st, store: e.store, logs: e.logs, as: e.as, up: e.up}
	var err error
	if r.m, err = NewManager(Config{Store: e.store, RedirectURL: redirectURL, Logger: e.m.log, Now: e.clock}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) get(identity string) (string, error) {
	hc := &http.Client{Transport: e.m.Transport(identity, e.up, nil)}
	resp, err := hc.Post(e.up.URL, "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return b.String(), fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return b.String(), nil
}
