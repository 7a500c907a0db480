package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key is the caller's per-identity key, used to count what one caller
// holds: a user by login (all of a user's devices together), a tagged
// node, which has no user, by its tags and its node. It is the same key
// internal/upstream uses for per-identity children.
func (id *Identity) Key() string {
	if id.IsTagged() {
		node := string(id.NodeID)
		if node == "" {
			node = id.NodeName
		}
		return "tags:" + strings.Join(id.Tags, ",") + "/node:" + node
	}
	return "user:" + id.LoginName
}

// KeyHash is the SHA-256, in hex, of the identity key key (see Key): how
// tsmcp names an identity's entry where a login cannot appear (file names
// of per-identity directories, Kubernetes Secret and SSM parameter names
// of per-identity secrets). The same as
// `printf %s 'user:alice@example.com' | sha256sum`.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// CredentialKey names the identity that holds credentials of its own
// (upstream tokens): a user by its stable user ID ("user:<id>", the same
// on all of the user's devices), a tagged node, which has no user, by its
// stable node ID ("node:<id>"). An identity without those IDs (not built
// from WhoIs) falls back to the login ("login:<login>"). Empty for nil.
func (id *Identity) CredentialKey() string {
	switch {
	case id == nil:
		return ""
	case id.IsTagged():
		if id.NodeID == "" {
			return ""
		}
		return "node:" + string(id.NodeID)
	case id.UserID != 0:
		return fmt.Sprintf("user:%d", id.UserID)
	case id.LoginName != "":
		return "login:" + id.LoginName
	}
	return ""
}
