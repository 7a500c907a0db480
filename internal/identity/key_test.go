package identity

import "testing"

func TestKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   Identity
		want string
	}{
		{"user: the login, whatever the node", Identity{LoginName: "alice@example.com", NodeName: "laptop", NodeID: "n1"}, "user:alice@example.com"},
		{"tagged node: tags and node ID", Identity{Tags: []string{"tag:a", "tag:b"}, NodeName: "ci", NodeID: "n2"}, "tags:tag:a,tag:b/node:n2"},
		{"tagged node without an ID: tags and node name", Identity{Tags: []string{"tag:a"}, NodeName: "ci"}, "tags:tag:a/node:ci"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Key(); got != tt.want {
				t.Errorf("Key() = %q, want %q", got, tt.want)
			}
		})
	}
	a := Identity{LoginName: "alice@example.com", NodeID: "n1"}
	b := Identity{LoginName: "alice@example.com", NodeID: "n3"}
	if a.Key() != b.Key() {
		t.Error("one user's two nodes have different keys")
	}
}

func TestCredentialKey(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   *Identity
		want string
	}{
		{"user: the user ID, whatever the node or login", &Identity{LoginName: "alice@example.com", UserID: 7, NodeID: "n1"}, "user:7"},
		{"user without an ID: the login", &Identity{LoginName: "alice@example.com", NodeID: "n1"}, "login:alice@example.com"},
		{"tagged node: the node ID, not its tags", &Identity{Tags: []string{"tag:a"}, NodeID: "n2", UserID: 9}, "node:n2"},
		{"tagged node without an ID: none", &Identity{Tags: []string{"tag:a"}, NodeName: "ci"}, ""},
		{"nil", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.CredentialKey(); got != tt.want {
				t.Errorf("CredentialKey() = %q, want %q", got, tt.want)
			}
		})
	}
}
