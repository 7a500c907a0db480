// Package fakessm serves, for tests, the part of the AWS Systems Manager
// Parameter Store API that tsmcp uses (GetParameter, PutParameter and
// DeleteParameter over the AWS JSON 1.1 protocol), and points the AWS SDK
// of the test process at it with static credentials (Use). It refuses
// requests that are not SigV4-signed, as AWS does.
package fakessm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Server is a running fake Parameter Store.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:<port>.
	URL string

	mu     sync.Mutex // guards the fields below
	params map[string]string
	asked  []string
	deny   bool
}

// Use starts a Server holding params (name → value) for the test and
// points the AWS SDK at it through the environment
// (AWS_ENDPOINT_URL_SSM, static credentials, a region, no shared config
// files and no instance metadata).
func Use(t testing.TB, params map[string]string) *Server {
	t.Helper()
	s := &Server{params: map[string]string{}}
	for k, v := range params {
		s.params[k] = v
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME":                        home,
		"AWS_CONFIG_FILE":             filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_ACCESS_KEY_ID":           "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":       "fake-secret",
		"AWS_REGION":                  "eu-west-1",
		"AWS_ENDPOINT_URL_SSM":        srv.URL,
		"AWS_MAX_ATTEMPTS":            "1",
	} {
		t.Setenv(k, v)
	}
	return s
}

// Deny makes every later request fail with AccessDeniedException.
func (s *Server) Deny() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = true
}

// Param returns the parameter's value, as stored.
func (s *Server) Param(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.params[name]
	return v, ok
}

// Asked returns the names of the parameters asked for, in order.
func (s *Server) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(typ string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": typ})
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	var in struct {
		Name, Value, Type, Tier   string
		Overwrite, WithDecryption bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail("ValidationException")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deny {
		fail("AccessDeniedException")
		return
	}
	var out any = map[string]any{}
	switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.") {
	case "GetParameter":
		s.asked = append(s.asked, in.Name)
		v, ok := s.params[in.Name]
		if !ok || !in.WithDecryption {
			fail("ParameterNotFound")
			return
		}
		out = map[string]any{"Parameter": map[string]any{"Name": in.Name, "Value": v, "Type": "SecureString"}}
	case "PutParameter":
		if in.Type != "SecureString" || !in.Overwrite {
			fail("ValidationException")
			return
		}
		s.params[in.Name] = in.Value
		out = map[string]any{"Version": 1, "Tier": in.Tier}
	case "DeleteParameter":
		if _, ok := s.params[in.Name]; !ok {
			fail("ParameterNotFound")
			return
		}
		delete(s.params, in.Name)
	default:
		fail("InvalidAction")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}
