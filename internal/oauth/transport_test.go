package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTokenStaysWithItsResource: the token goes to its resource only: an
// upstream whose URL changed since the authorization gets requests
// without it, and a redirect to another origin is an error.
func TestTokenStaysWithItsResource(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	var leaked atomic.Value
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
	}))
	defer evil.Close()

	// The upstream's URL changed since alice authorized: her token is
	// not for it; the request goes without it.
	moved := e.up
	moved.URL = evil.URL + "/mcp"
	hc := &http.Client{Transport: e.m.Transport("alice", moved, nil)}
	if resp, err := hc.Get(moved.URL); err != nil {
		t.Errorf("to the moved upstream: %v", err)
	} else {
		resp.Body.Close()
	}
	if v, _ := leaked.Load().(string); v != "" {
		t.Errorf("the moved upstream got Authorization %q", v)
	}
	if c, _ := e.m.Connection("alice", "files"); !c.Connected {
		t.Error("alice's token for the old URL is gone")
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
