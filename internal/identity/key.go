package identity

import "strings"

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
