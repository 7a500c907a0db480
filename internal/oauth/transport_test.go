package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTokenStaysWithItsResource: the transport refuses to send the token
// anywhere but its resource: a redirect to another origin, or an upstream
// URL changed to another server, gets an error and no token.
func TestTokenStaysWithItsResource(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	var leaked atomic.Value
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
	}))
	defer evil.Close()

	moved := e.up
	moved.URL = evil.URL + "/mcp"
	hc := &http.Client{Transport: e.m.Transport("alice", moved, nil)}
	if _, err := hc.Get(moved.URL); err == nil || !strings.Contains(err.Error(), "not sending it") {
		t.Errorf("to another server: %v, want a refusal", err)
	}

	redirector := http.NewServeMux()
	redirector.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/steal", http.StatusTemporaryRedirect)
	})
	e.as.srv.Config.Handler = redirector
	hc = &http.Client{Transport: e.m.Transport("alice", e.up, nil)}
	_, err := hc.Get(e.up.URL)
	if err == nil || !strings.Contains(err.Error(), "not sending it") {
		t.Errorf("redirected to another server: %v, want a refusal", err)
	}
	var are *AuthorizationRequiredError
	if errors.As(err, &are) {
		t.Error("a refusal to send the token is not a reason to authorize")
	}
	if v, _ := leaked.Load().(string); v != "" {
		t.Errorf("the other server got Authorization %q", v)
	}
}
