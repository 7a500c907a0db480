package credstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
	"github.com/tsmcp/tsmcp/internal/testutil/fakessm"
	"tailscale.com/ipn"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, spec string
		want       Spec
		err        string
	}{
		{name: "dir", spec: "dir:/var/lib/tsmcp/credentials", want: Spec{KindDir, "/var/lib/tsmcp/credentials"}},
		{name: "bare absolute path", spec: "/srv/creds/", want: Spec{KindDir, "/srv/creds"}},
		{name: "relative dir", spec: "dir:creds", err: "absolute path"},
		{name: "kube", spec: "kube:tsmcp-credentials", want: Spec{KindKube, "tsmcp-credentials"}},
		{name: "kube without a name", spec: "kube:", err: "Secret name"},
		{name: "kube with upper case", spec: "kube:Creds", err: "Secret name"},
		{name: "ssm", spec: "ssm:/tsmcp/credentials/", want: Spec{KindSSM, "/tsmcp/credentials"}},
		{name: "ssm relative", spec: "ssm:tsmcp", err: "parameter path"},
		{name: "ssm with a space", spec: "ssm:/a b", err: "parameter path"},
		{name: "unknown kind", spec: "mem:", err: "not a credential store"},
		{name: "relative path", spec: "creds", err: "not a credential store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, %v; want an error with %q", tt.spec, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.spec, got, err, tt.want)
			}
		})
	}
}

// TestSharedByReplicas is the store's contract, for each kind: two
// stores opened on the same spec (two replicas) see each other's writes
// and deletes at once, because nothing is cached.
func TestSharedByReplicas(t *testing.T) {
	tests := []struct {
		name string
		spec func(t *testing.T) string
	}{
		{"dir", func(t *testing.T) string { return "dir:" + t.TempDir() + "/credentials" }},
		{"kube", func(t *testing.T) string {
			fk := fakekube.Use(t, fakekube.Options{Verbs: []string{"get", "patch"}, ResourceNames: []string{"tsmcp-credentials"}})
			fk.CreateSecret("tsmcp-credentials", map[string][]byte{"other": []byte("kept")})
			return "kube:tsmcp-credentials"
		}},
		{"ssm", func(t *testing.T) string {
			fakessm.Use(t, nil)
			return "ssm:/tsmcp/credentials"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec(t)
			ctx := context.Background()
			a, err := Open(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Open(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			const key = ipn.StateKey("tsmcp-oauth-0123abcd")
			if _, err := a.ReadState(key); !errors.Is(err, ipn.ErrStateNotExist) {
				t.Fatalf("read of a missing key: %v, want ErrStateNotExist", err)
			}
			// Binary values (sealed records) round-trip.
			v1 := []byte{1, 0, 0xff, '\n', 'x'}
			if err := a.WriteState(key, v1); err != nil {
				t.Fatal(err)
			}
			if got, err := b.ReadState(key); err != nil || string(got) != string(v1) {
				t.Fatalf("replica b reads %q, %v; want %q", got, err, v1)
			}
			v2 := []byte("refreshed")
			if err := b.WriteState(key, v2); err != nil {
				t.Fatal(err)
			}
			if got, err := a.ReadState(key); err != nil || string(got) != string(v2) {
				t.Fatalf("replica a reads %q, %v after b's refresh; want %q", got, err, v2)
			}
			if err := a.WriteState(key, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadState(key); !errors.Is(err, ipn.ErrStateNotExist) {
				t.Fatalf("replica b reads a deleted key: %v, want ErrStateNotExist", err)
			}
			if err := b.WriteState(key, nil); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			for _, bad := range []ipn.StateKey{"../x", "a/b", "", ".."} {
				if err := a.WriteState(bad, v1); err == nil {
					t.Errorf("WriteState(%q) succeeded; want refused", bad)
				}
				if _, err := a.ReadState(bad); err == nil || errors.Is(err, ipn.ErrStateNotExist) {
					t.Errorf("ReadState(%q) = %v; want refused", bad, err)
				}
			}
		})
	}
}

func TestKubeOtherKeysKept(t *testing.T) {
	fk := fakekube.Use(t, fakekube.Options{Verbs: []string{"get", "patch"}})
	fk.CreateSecret("creds", map[string][]byte{"other": []byte("kept")})
	st, err := Open(context.Background(), "kube:creds")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteState("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteState("k", nil); err != nil {
		t.Fatal(err)
	}
	data, _ := fk.Secret("creds")
	if string(data["other"]) != "kept" || len(data) != 1 {
		t.Fatalf("Secret data = %q; want only other=kept", data)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Run("kube: missing Secret", func(t *testing.T) {
		fakekube.Use(t, fakekube.Options{Verbs: []string{"get", "patch"}})
		_, err := Open(context.Background(), "kube:nope")
		if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v; want the Secret named as missing", err)
		}
	})
	t.Run("kube: not in a pod", func(t *testing.T) {
		fakekube.NotInPod(t)
		_, err := Open(context.Background(), "kube:creds")
		if err == nil || !strings.Contains(err.Error(), "not running in a Kubernetes pod") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ssm: access denied", func(t *testing.T) {
		fakessm.Use(t, nil).Deny()
		_, err := Open(context.Background(), "ssm:/tsmcp/credentials")
		if err == nil || !strings.Contains(err.Error(), "ssm:GetParameter") {
			t.Fatalf("err = %v; want the missing permission named", err)
		}
	})
}
