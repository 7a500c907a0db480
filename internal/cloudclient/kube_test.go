package cloudclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tailscale.com/kube/kubeclient"

	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
)

func TestAPIServerURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "no service host: kubeclient's default", env: map[string]string{"KUBERNETES_SERVICE_PORT_HTTPS": "6443"}, want: ""},
		{name: "host and HTTPS port", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT_HTTPS": "6443", "KUBERNETES_SERVICE_PORT": "80"}, want: "https://10.0.0.1:6443"},
		{name: "host and plain port", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "8443"}, want: "https://10.0.0.1:8443"},
		{name: "host alone: 443", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, want: "https://10.0.0.1:443"},
		{name: "IPv6 host in brackets", env: map[string]string{"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT_HTTPS": "443"}, want: "https://[fd00::1]:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apiServerURL(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Fatalf("apiServerURL = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestKube makes clients against fakekube, which serves TLS with its own
// CA and wants the service account's token: a Secret read proves the
// client found the namespace, token, CA and API server.
func TestKube(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T)
		err   string // a substring of Kube's or GetSecret's error; "" means the Secret is read
	}{
		{name: "in a pod", setup: func(t *testing.T) {}},
		{name: "in a pod, without tailscale's address variable", setup: func(t *testing.T) {
			t.Setenv("TS_KUBERNETES_READ_API_SERVER_ADDRESS_FROM_ENV", "")
		}},
		{name: "not in a pod", setup: func(t *testing.T) { fakekube.NotInPod(t) }, err: "not running in a Kubernetes pod with a service account"},
		{name: "a CA that is not PEM", setup: func(t *testing.T) {
			root := t.TempDir()
			sa := filepath.Join(root, fakekube.ServiceAccountPath)
			if err := os.MkdirAll(sa, 0o700); err != nil {
				t.Fatal(err)
			}
			for name, v := range map[string]string{"namespace": "default", "token": "t", "ca.crt": "not a certificate"} {
				if err := os.WriteFile(filepath.Join(sa, name), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			fakekube.NotInPod(t) // resets the root when t ends
			kubeclient.SetRootPathForTesting(root)
		}, err: "reading the pod's service account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fk := fakekube.Use(t, fakekube.Options{Namespace: "tsmcp", Verbs: []string{"get"}})
			fk.CreateSecret("s", map[string][]byte{"k": []byte("v")})
			tt.setup(t)
			c, err := Kube("tsmcp-test")
			if err == nil {
				got, gerr := c.GetSecret(t.Context(), "s")
				if gerr == nil && string(got.Data["k"]) != "v" {
					t.Fatalf("Secret data = %q", got.Data)
				}
				err = gerr
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("reading a Secret: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v; want %q", err, tt.err)
			}
		})
	}
}
