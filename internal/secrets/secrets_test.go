package secrets_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/statestore/fakekube"
	"github.com/tsmcp/tsmcp/internal/testutil/fakessm"
)

var (
	alice = &identity.Identity{LoginName: "alice@example.com", NodeName: "alice-laptop", NodeID: "n1"}
	bob   = &identity.Identity{LoginName: "bob@example.com", NodeName: "bob-desktop", NodeID: "n2"}
	ci    = &identity.Identity{NodeName: "ci", NodeID: "n3", Tags: []string{"tag:ci"}}
)

// lookupCase is one Resolve of a source holding alice's jira-token and
// the tagged node's, but not bob's.
type lookupCase struct {
	name    string
	id      *identity.Identity
	want    string // the value; "" means a *NotFoundError
	missing string // a substring of the not-found error
}

func lookupCases(missingWhere string) []lookupCase {
	return []lookupCase{
		{name: "alice's own", id: alice, want: "alice-value"},
		{name: "the tagged node's own", id: ci, want: "ci-value"},
		{name: "bob has none: not found, never alice's", id: bob, missing: missingWhere},
	}
}

func runLookups(t *testing.T, src secrets.Source, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secrets.Resolve(t.Context(), src, tc.id, []string{"jira-token"})
			if tc.want != "" {
				if err != nil || got["jira-token"] != tc.want {
					t.Fatalf("Resolve = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !secrets.IsNotFound(err) || got != nil {
				t.Fatalf("Resolve = %q, %v; want not found", got, err)
			}
			msg := secrets.CallerMessage(err)
			for _, want := range []string{`secret "jira-token" is not set for you`, "secrets.source " + src.String(), tc.missing} {
				if !strings.Contains(msg, want) {
					t.Errorf("caller message %q lacks %q", msg, want)
				}
			}
			for _, leak := range []string{"alice", "alice-value", "ci-value", identity.KeyHash(alice.Key())} {
				if strings.Contains(msg, leak) || strings.Contains(err.Error(), leak) {
					t.Errorf("error %q / %q names another identity's entry or value (%q)", msg, err, leak)
				}
			}
		})
	}
}

func TestDirSource(t *testing.T) {
	root := t.TempDir()
	write := func(key, name, v string) {
		dir := filepath.Join(root, secrets.DirEntry(key))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(alice.Key(), "jira-token", "alice-value\n")
	write(ci.Key(), "jira-token", "ci-value\r\n")
	write(alice.Key(), "empty", "\n")
	write(alice.Key(), "nul", "a\x00b")
	if err := os.MkdirAll(filepath.Join(root, secrets.DirEntry(alice.Key()), "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	src, err := secrets.Open("dir:" + root)
	if err != nil {
		t.Fatal(err)
	}
	// The layout is readable: the login, and the tagged node's key with
	// its '/' escaped.
	for _, p := range []string{"user:alice@example.com/jira-token", "tags:tag:ci%2Fnode:n3/jira-token"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("layout: %v", err)
		}
	}
	runLookups(t, src, lookupCases(filepath.Join(root, "user:bob@example.com", "jira-token")))

	if _, err := src.Lookup(t.Context(), alice.Key(), "empty"); !secrets.IsNotFound(err) {
		t.Errorf("an empty file: %v, want not found", err)
	}
	if _, err := src.Lookup(t.Context(), alice.Key(), "nul"); err == nil || secrets.IsNotFound(err) || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("a value with NUL: %v, want an error", err)
	}
	if _, err := src.Lookup(t.Context(), alice.Key(), "adir"); err == nil || secrets.IsNotFound(err) {
		t.Errorf("a directory: %v, want an error", err)
	}
	// A key cannot climb out of its directory.
	if got := secrets.DirEntry("user:../../etc"); strings.Contains(got, "/") {
		t.Errorf("DirEntry = %q", got)
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, spec := range []string{"", "dir:", "dir:relative", "kube:UPPER", "ssm:no-slash", "secretsmanager:x", "vault:x"} {
		if _, err := secrets.Open(spec); err == nil {
			t.Errorf("Open(%q) succeeded", spec)
		}
	}
}

func TestKubeSource(t *testing.T) {
	fk := fakekube.Use(t, fakekube.Options{Namespace: "tsmcp", Verbs: []string{"get"}})
	fk.CreateSecret("tsmcp-secrets-"+identity.KeyHash(alice.Key()), map[string][]byte{"jira-token": []byte("alice-value")})
	fk.CreateSecret("tsmcp-secrets-"+identity.KeyHash(ci.Key()), map[string][]byte{"jira-token": []byte("ci-value"), "other": nil})
	src, err := secrets.Open("kube:tsmcp-secrets-")
	if err != nil {
		t.Fatal(err)
	}
	runLookups(t, src, lookupCases("Kubernetes Secret tsmcp-secrets-"+identity.KeyHash(bob.Key())))
	if _, err := src.Lookup(t.Context(), ci.Key(), "missing-key"); !secrets.IsNotFound(err) {
		t.Errorf("a key the Secret lacks: %v, want not found", err)
	}
}

func TestKubeSourceForbidden(t *testing.T) {
	fakekube.Use(t, fakekube.Options{Verbs: []string{"patch"}})
	src, _ := secrets.Open("kube:tsmcp-secrets-")
	_, err := src.Lookup(t.Context(), alice.Key(), "jira-token")
	if err == nil || secrets.IsNotFound(err) || !strings.Contains(err.Error(), "grant get on secrets") {
		t.Fatalf("Lookup without get permission = %v", err)
	}
}

func TestKubeSourceNotInPod(t *testing.T) {
	fakekube.NotInPod(t)
	src, _ := secrets.Open("kube:tsmcp-secrets-")
	_, err := src.Lookup(t.Context(), alice.Key(), "jira-token")
	if err == nil || !strings.Contains(err.Error(), "not running in a Kubernetes pod") {
		t.Fatalf("Lookup outside a pod = %v", err)
	}
}

func TestSSMSource(t *testing.T) {
	fakessm.Use(t, map[string]string{
		"/tsmcp/secrets/" + identity.KeyHash(alice.Key()) + "/jira-token": "alice-value",
		"/tsmcp/secrets/" + identity.KeyHash(ci.Key()) + "/jira-token":    "ci-value",
	})
	src, err := secrets.Open("ssm:/tsmcp/secrets")
	if err != nil {
		t.Fatal(err)
	}
	runLookups(t, src, lookupCases("SSM parameter /tsmcp/secrets/"+identity.KeyHash(bob.Key())+"/jira-token"))
}

func TestRefs(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     string
		err      string
	}{
		{name: "none", in: "Bearer {{env \"X\"}}", want: "[]"},
		{name: "two, repeated", in: "${secret:b}:${secret:a}:${secret:b}", want: "[a b]"},
		{name: "not closed", in: "x ${secret:a", err: "is not closed"},
		{name: "bad name", in: "${secret:a/b}", err: "is not a valid secret name"},
		{name: "empty name", in: "${secret:}", err: "is not a valid secret name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secrets.Refs(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Refs(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != strings.Trim(tt.want, "[]") {
				t.Fatalf("Refs(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
	if got := secrets.Expand("Bearer ${secret:a}/${secret:b}", map[string]string{"a": "1", "b": "${secret:a}"}); got != "Bearer 1/${secret:a}" {
		t.Errorf("Expand = %q (a value is not expanded again)", got)
	}
}

func TestResolveWithoutSource(t *testing.T) {
	_, err := secrets.Resolve(context.Background(), nil, alice, []string{"x"})
	var se *secrets.Error
	if !errors.As(err, &se) || !secrets.IsNotFound(err) {
		t.Fatalf("Resolve without a source = %v", err)
	}
}
