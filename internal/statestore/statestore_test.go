package statestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/statestore"
	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
)

func TestKindOf(t *testing.T) {
	for state, want := range map[string]statestore.Kind{
		"/var/lib/tsmcp":   statestore.Dir,
		"./state":          statestore.Dir,
		"mem:":             statestore.Mem,
		"kube:tsmcp-state": statestore.Kube,
		"arn:aws:ssm:eu-west-1:123456789012:parameter/tsmcp/state": statestore.SSM,
	} {
		if got := statestore.KindOf(state); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", state, got, want)
		}
	}
}

func TestOpenDirectoryIsAnError(t *testing.T) {
	_, err := statestore.Open(t.Context(), nil, "/var/lib/tsmcp")
	if err == nil || !strings.Contains(err.Error(), "tailnet.state") {
		t.Fatalf("Open(directory) = %v, want an error naming tailnet.state", err)
	}
}

func TestKubeNotInAPod(t *testing.T) {
	fakekube.NotInPod(t)
	_, err := statestore.Open(t.Context(), nil, "kube:tsmcp-state")
	if err == nil {
		t.Fatal("Open succeeded outside a pod")
	}
	t.Log(err)
	for _, want := range []string{"tailnet.state: kube:tsmcp-state", "not running in a Kubernetes pod", statestore.ServiceAccountDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestKubeMissingPermission(t *testing.T) {
	fakekube.Use(t, fakekube.Options{Verbs: []string{"get"}, ResourceNames: []string{"tsmcp-state"}})
	_, err := statestore.Open(t.Context(), nil, "kube:tsmcp-state")
	if err == nil {
		t.Fatal("Open succeeded without update permission")
	}
	t.Log(err)
	for _, want := range []string{"tailnet.state: kube:tsmcp-state", `may not use Secret "tsmcp-state"`, "missing update permission", "resourceNames"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestKubeLeastPrivilege is the deploy/k8s Role: get, update and patch on
// the one pre-created Secret, no create. State is written by JSON patch.
func TestKubeLeastPrivilege(t *testing.T) {
	fk := fakekube.Use(t, fakekube.Options{Namespace: "tsmcp", ResourceNames: []string{"tsmcp-state"}})
	fk.CreateSecret("tsmcp-state", nil) // the manifest's empty Secret
	st, err := statestore.Open(t.Context(), t.Logf, "kube:tsmcp-state")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteState("_machinekey", []byte("secret-key")); err != nil {
		t.Fatal(err)
	}
	data, _ := fk.Secret("tsmcp-state")
	if string(data["_machinekey"]) != "secret-key" {
		t.Fatalf("Secret data = %q", data)
	}
	var patched bool
	for _, r := range fk.Requests() {
		patched = patched || r == "PATCH /api/v1/namespaces/tsmcp/secrets/tsmcp-state"
	}
	if !patched {
		t.Errorf("state not written by PATCH; requests: %q", fk.Requests())
	}
}

// TestKubeCreatesMissingSecret: with create permission (no resourceNames)
// and no Secret, the store creates it on first write.
func TestKubeCreatesMissingSecret(t *testing.T) {
	fk := fakekube.Use(t, fakekube.Options{Verbs: []string{"get", "update", "patch", "create"}})
	st, err := statestore.Open(t.Context(), nil, "kube:tsmcp-state")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteState("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if data, ok := fk.Secret("tsmcp-state"); !ok || string(data["k"]) != "v" {
		t.Fatalf("Secret = %q, %v", data, ok)
	}
}

// noAWSCredentials empties every source of AWS credentials the SDK's default
// chain consults, and turns off the EC2 metadata service, so that the chain
// fails at once instead of dialling 169.254.169.254.
func noAWSCredentials(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM",
	} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

const testARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/tsmcp/state"

func TestSSMNoCredentials(t *testing.T) {
	noAWSCredentials(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	began := time.Now()
	_, err := statestore.Open(ctx, nil, testARN)
	if err == nil {
		t.Fatal("Open succeeded without AWS credentials")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("failing took %v; the credential chain should fail fast", d)
	}
	t.Log(err)
	for _, want := range []string{"tailnet.state: " + testARN, "no AWS credentials found", "task role"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// fakeSSM serves GetParameter and PutParameter of the AWS JSON 1.1
// protocol, enough for tailscale's awsstore.
type fakeSSM struct {
	mu     sync.Mutex
	params map[string]string
	hang   chan struct{} // if non-nil, requests wait for it to close
}

func (f *fakeSSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hang != nil {
		select {
		case <-f.hang:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"__type": "ServiceUnavailable", "message": "released"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Name, Value, Type string
		Overwrite         bool
	}
	json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSSM.GetParameter":
		v, ok := f.params[in.Name]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ParameterNotFound", "message": "not found"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v}})
	case "AmazonSSM.PutParameter":
		if in.Type != "SecureString" {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ValidationException", "message": "want SecureString"})
			return
		}
		f.params[in.Name] = in.Value
		json.NewEncoder(w).Encode(map[string]any{"Version": 1, "Tier": "Standard"})
	default:
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException"})
	}
}

func useFakeSSM(t *testing.T, f *fakeSSM) {
	t.Helper()
	noAWSCredentials(t)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
	t.Setenv("AWS_ENDPOINT_URL_SSM", srv.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
}

// TestSSMRoundTrip: with credentials, the store creates the parameter as a
// SecureString, writes state into it and a new store reads it back.
func TestSSMRoundTrip(t *testing.T) {
	f := &fakeSSM{params: map[string]string{}}
	useFakeSSM(t, f)
	st, err := statestore.Open(t.Context(), nil, testARN)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteState("_machinekey", []byte("k1")); err != nil {
		t.Fatal(err)
	}
	st2, err := statestore.Open(t.Context(), nil, testARN)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st2.ReadState("_machinekey")
	if err != nil || string(got) != "k1" {
		t.Fatalf("ReadState after reopen = %q, %v", got, err)
	}
	if _, err := st2.ReadState("missing"); !errors.Is(err, ipn.ErrStateNotExist) {
		t.Errorf("ReadState(missing) = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.params["/tsmcp/state"]; !ok {
		t.Errorf("parameter /tsmcp/state not written; have %v", f.params)
	}
}

// TestSSMUnreachableIsBounded: an SSM endpoint that never answers does not
// hold Open past its context.
func TestSSMUnreachableIsBounded(t *testing.T) {
	f := &fakeSSM{hang: make(chan struct{})}
	defer close(f.hang)
	useFakeSSM(t, f)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := statestore.Open(ctx, nil, testARN)
	if err == nil || !strings.Contains(err.Error(), "no answer from AWS SSM in time") {
		t.Fatalf("Open = %v, want a timeout naming SSM", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Open returned after %v", d)
	}
}
