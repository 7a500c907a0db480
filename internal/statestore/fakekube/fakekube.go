// Package fakekube serves, for tests, the part of the Kubernetes API that
// tailscale's Secret state store (tailscale.com/ipn/store/kubestore, through
// tailscale.com/kube/kubeclient) uses: SelfSubjectAccessReviews, and get,
// create, update and JSON-patch of Secrets in one namespace. It speaks TLS
// with its own certificate, wants the service account's bearer token, and
// checks every request against a Role-like rule, so that missing RBAC
// verbs fail the way they do on a real API server.
//
// kubeclient finds the API server and its credentials as a pod would: it
// reads namespace, token and ca.crt from
// <root>/var/run/secrets/kubernetes.io/serviceaccount (root set with
// kubeclient.SetRootPathForTesting) and, with
// TS_KUBERNETES_READ_API_SERVER_ADDRESS_FROM_ENV=true, dials
// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT_HTTPS.
// Server.Root and Server.Env provide both; Use does all of it for a test.
package fakekube

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"tailscale.com/kube/kubeapi"
	"tailscale.com/kube/kubeclient"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Namespace is the pod's namespace. Empty means "default".
	Namespace string
	// Verbs are the verbs the service account's Role grants on Secrets.
	// Nil means get, update and patch (the least kubestore needs with a
	// pre-created Secret).
	Verbs []string
	// ResourceNames limits the rule to these Secrets, as a Role's
	// resourceNames does. As on a real API server, such a rule never
	// permits create (a create request carries no name). Nil means any
	// Secret.
	ResourceNames []string
}

// Server is a running fake API server. Create it with Start.
type Server struct {
	// URL is the server's base URL, https://127.0.0.1:<port>.
	URL string
	// Root is the directory to pass to kubeclient.SetRootPathForTesting:
	// it holds the service account files under ServiceAccountPath.
	Root string

	ns    string
	token string
	verbs []string
	names []string
	srv   *httptest.Server

	mu       sync.Mutex // guards the fields below
	secrets  map[string]map[string][]byte
	requests []string
}

// ServiceAccountPath is where, below Server.Root, the service account's
// namespace, token and ca.crt files are written.
const ServiceAccountPath = "var/run/secrets/kubernetes.io/serviceaccount"

// Start starts a server on loopback and writes the service account files
// into a new directory under dir. Close stops it.
func Start(dir string, opts Options) (*Server, error) {
	s := &Server{
		ns:      opts.Namespace,
		token:   "fakekube-token",
		verbs:   opts.Verbs,
		names:   opts.ResourceNames,
		secrets: map[string]map[string][]byte{},
	}
	if s.ns == "" {
		s.ns = "default"
	}
	if s.verbs == nil {
		s.verbs = []string{"get", "update", "patch"}
	}
	root, err := os.MkdirTemp(dir, "fakekube-")
	if err != nil {
		return nil, err
	}
	s.Root = root
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	sa := filepath.Join(root, ServiceAccountPath)
	files := map[string][]byte{"namespace": []byte(s.ns), "token": []byte(s.token), "ca.crt": ca}
	if err := os.MkdirAll(sa, 0o700); err != nil {
		s.Close()
		return nil, err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(sa, name), b, 0o600); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Use starts a Server for the test t and points tailscale's kubeclient at
// it, as a pod's service account mount and environment would: it sets the
// variables of Env and the root of the service account files, and undoes
// both (and stops the server) when t ends. POD_NAME and POD_UID are set
// empty: kubestore creates Events only with both set, and the deploy/k8s
// manifests set neither. Like t.Setenv, it cannot be used in parallel
// tests.
func Use(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("POD_NAME", "")
	t.Setenv("POD_UID", "")
	kubeclient.SetRootPathForTesting(s.Root)
	t.Cleanup(func() { kubeclient.SetRootPathForTesting("") })
	return s
}

// NotInPod makes tailscale's kubeclient look, for the test t, like it runs
// outside a pod: its root is an empty directory, so there are no service
// account files. The root is reset when t ends.
func NotInPod(t testing.TB) {
	t.Helper()
	kubeclient.SetRootPathForTesting(t.TempDir())
	t.Cleanup(func() { kubeclient.SetRootPathForTesting("") })
}

// Env returns the environment variables that point kubeclient at the
// server, as NAME=value.
func (s *Server) Env() []string {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "https://"))
	return []string{
		"TS_KUBERNETES_READ_API_SERVER_ADDRESS_FROM_ENV=true",
		"KUBERNETES_SERVICE_HOST=" + host,
		"KUBERNETES_SERVICE_PORT_HTTPS=" + port,
	}
}

// Close stops the server and removes Root.
func (s *Server) Close() {
	s.srv.Close()
	os.RemoveAll(s.Root)
}

// CreateSecret creates (or replaces) a Secret, as `kubectl apply` of a
// manifest would before the pod starts.
func (s *Server) CreateSecret(name string, data map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name] = maps.Clone(data)
	if s.secrets[name] == nil {
		s.secrets[name] = map[string][]byte{}
	}
}

// Secret returns a copy of a Secret's data and whether it exists.
func (s *Server) Secret(name string) (map[string][]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.secrets[name]
	return maps.Clone(d), ok
}

// Requests returns the requests served so far, as "METHOD path".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// allowed reports whether the rule permits verb on the Secret name ("" for
// a request that names none, i.e. create).
func (s *Server) allowed(verb, name string) bool {
	if !slices.Contains(s.verbs, verb) {
		return false
	}
	if len(s.names) == 0 {
		return true
	}
	return name != "" && slices.Contains(s.names, name)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "invalid bearer token")
		return
	}
	if r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" && r.Method == http.MethodPost {
		s.serveSSAR(w, r)
		return
	}
	prefix := "/api/v1/namespaces/" + s.ns + "/secrets"
	if r.URL.Path != prefix && !strings.HasPrefix(r.URL.Path, prefix+"/") {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
	verb := map[string]string{http.MethodGet: "get", http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch"}[r.Method]
	if name == "" && r.Method == http.MethodGet {
		verb = "list"
	}
	if verb == "" || (name == "") != (verb == "create" || verb == "list") {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
		return
	}
	if !s.allowed(verb, name) {
		writeStatus(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("secrets %q is forbidden: cannot %s resource \"secrets\" in namespace %q", name, verb, s.ns))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch verb {
	case "list":
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "list is not served by fakekube")
	case "get":
		data, ok := s.secrets[name]
		if !ok {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("secrets %q not found", name))
			return
		}
		writeJSON(w, http.StatusOK, s.secretObject(name, data))
	case "create":
		var sec kubeapi.Secret
		if err := json.NewDecoder(r.Body).Decode(&sec); err != nil || sec.Name == "" {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid Secret")
			return
		}
		if _, ok := s.secrets[sec.Name]; ok {
			writeStatus(w, http.StatusConflict, "AlreadyExists", fmt.Sprintf("secrets %q already exists", sec.Name))
			return
		}
		s.secrets[sec.Name] = maps.Clone(sec.Data)
		writeJSON(w, http.StatusCreated, s.secretObject(sec.Name, sec.Data))
	case "update":
		var sec kubeapi.Secret
		if err := json.NewDecoder(r.Body).Decode(&sec); err != nil || sec.Name != name {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid Secret")
			return
		}
		if _, ok := s.secrets[name]; !ok {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("secrets %q not found", name))
			return
		}
		s.secrets[name] = maps.Clone(sec.Data)
		writeJSON(w, http.StatusOK, s.secretObject(name, sec.Data))
	case "patch":
		s.servePatch(w, r, name)
	}
}

// servePatch applies an RFC 6902 JSON patch limited to /data and
// /data/<key>, the only paths kubestore patches.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, name string) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json-patch+json" {
		writeStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "only application/json-patch+json is served, got "+ct)
		return
	}
	data, ok := s.secrets[name]
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("secrets %q not found", name))
		return
	}
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ops); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid JSON patch: "+err.Error())
		return
	}
	next := maps.Clone(data)
	if next == nil {
		next = map[string][]byte{}
	}
	for _, op := range ops {
		switch {
		case op.Path == "/data" && (op.Op == "add" || op.Op == "replace"):
			var m map[string][]byte // base64 values, as in a Secret
			if err := json.Unmarshal(op.Value, &m); err != nil {
				writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid /data value: "+err.Error())
				return
			}
			next = m
		case strings.HasPrefix(op.Path, "/data/") && (op.Op == "add" || op.Op == "replace"):
			var b []byte
			if err := json.Unmarshal(op.Value, &b); err != nil {
				writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid value for "+op.Path+": "+err.Error())
				return
			}
			next[strings.TrimPrefix(op.Path, "/data/")] = b
		case strings.HasPrefix(op.Path, "/data/") && op.Op == "remove":
			key := strings.TrimPrefix(op.Path, "/data/")
			if _, ok := next[key]; !ok {
				writeStatus(w, http.StatusUnprocessableEntity, "Invalid", "remove of missing key "+key)
				return
			}
			delete(next, key)
		default:
			writeStatus(w, http.StatusUnprocessableEntity, "Invalid", fmt.Sprintf("unsupported patch %s %s", op.Op, op.Path))
			return
		}
	}
	s.secrets[name] = next
	writeJSON(w, http.StatusOK, s.secretObject(name, next))
}

func (s *Server) serveSSAR(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Spec struct {
			ResourceAttributes struct {
				Namespace string `json:"namespace"`
				Verb      string `json:"verb"`
				Resource  string `json:"resource"`
				Name      string `json:"name"`
			} `json:"resourceAttributes"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	ra := req.Spec.ResourceAttributes
	// Like RBAC evaluating a review: the attributes as given, so a
	// resourceNames rule answers yes to "create <name>" even though a real
	// create request (which has no name) would be refused.
	ok := ra.Namespace == s.ns && ra.Resource == "secrets" && slices.Contains(s.verbs, ra.Verb) &&
		(len(s.names) == 0 || slices.Contains(s.names, ra.Name))
	writeJSON(w, http.StatusCreated, map[string]any{
		"apiVersion": "authorization.k8s.io/v1",
		"kind":       "SelfSubjectAccessReview",
		"status":     map[string]any{"allowed": ok},
	})
}

func (s *Server) secretObject(name string, data map[string][]byte) *kubeapi.Secret {
	return &kubeapi.Secret{
		TypeMeta:   kubeapi.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: kubeapi.ObjectMeta{Name: name, Namespace: s.ns},
		Data:       data,
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	writeJSON(w, code, map[string]any{
		"apiVersion": "v1",
		"kind":       "Status",
		"status":     "Failure",
		"message":    msg,
		"reason":     reason,
		"code":       code,
	})
}
