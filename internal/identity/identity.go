// Package identity describes who is calling tsmcp, as the tailnet sees them,
// and carries that description through request contexts.
//
// An Identity is built once per HTTP request from the tailnet's WhoIs answer
// for the connection's remote address. Nothing in it comes from the caller's
// own headers or body.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"tailscale.com/client/tailscale/apitype"
	"tailscale.com/tailcfg"
)

// Identity is the tailnet identity of one caller.
type Identity struct {
	// LoginName is the user's login (e.g. alice@example.com). It is empty
	// for tagged nodes: a tagged node has no user and is known only by its
	// tags.
	LoginName string
	// UserID is the user's stable ID in the tailnet (a login can be
	// renamed or reused; the ID cannot). Zero for tagged nodes, and for
	// identities not built from WhoIs.
	UserID tailcfg.UserID
	// DisplayName is the user's display name; empty for tagged nodes.
	DisplayName string
	// NodeName is the caller's node name (its MagicDNS FQDN without the
	// trailing dot, or the bare name when the tailnet has no MagicDNS).
	NodeName string
	// NodeID is the caller node's stable ID.
	NodeID tailcfg.StableNodeID
	// Tags are the node's ACL tags (e.g. tag:ci); nil for user nodes.
	Tags []string
	// TailnetIP is the caller's tailnet address as seen on the connection.
	TailnetIP netip.Addr
	// Shared is true when the node was shared into this tailnet from
	// another one (Tailscale's autogroup:shared); false for members.
	Shared bool
	// Caps are the app capabilities the tailnet policy grants the caller
	// on this host, keyed by capability name. Nil means none.
	Caps tailcfg.PeerCapMap
}

// IsTagged reports whether the caller is a tagged node (and so has no user).
func (id *Identity) IsTagged() bool { return len(id.Tags) > 0 }

// String returns a short description for logs: the login, or the tags of a
// tagged node, and the node name.
func (id *Identity) String() string {
	if id == nil {
		return "<unidentified>"
	}
	who := id.LoginName
	if id.IsTagged() {
		who = strings.Join(id.Tags, ",")
	}
	return fmt.Sprintf("%s (%s)", who, id.NodeName)
}

// Equal reports whether a and b are the same caller: the same node with the
// same user and tags. It is used to bind MCP sessions to the identity that
// opened them.
func (id *Identity) Equal(o *Identity) bool {
	if id == nil || o == nil {
		return false
	}
	return id.NodeID == o.NodeID &&
		id.LoginName == o.LoginName &&
		slices.Equal(id.Tags, o.Tags)
}

// ErrIncomplete is returned by FromWhoIs when the WhoIs answer lacks the node
// or, for an untagged node, the user. Such a caller is refused.
var ErrIncomplete = errors.New("identity: WhoIs answer has no node or no user")

// FromWhoIs builds an Identity from a WhoIs answer for a connection from
// addr. Tags are checked first: a tagged node is identified by its tags only,
// and any user profile attached to it is ignored, as in production Tailscale.
//
// tailnetSuffix is the host's own MagicDNS suffix (e.g. "tail1234.ts.net").
// A caller is Shared (autogroup:shared) when its node was shared in
// (Node.Sharer is set) or its node's name is not under tailnetSuffix: a
// user of another tailnet, to whom the host node was shared, connects from a
// node named in their own tailnet. Empty tailnetSuffix means only Sharer
// counts.
func FromWhoIs(w *apitype.WhoIsResponse, addr netip.Addr, tailnetSuffix string) (*Identity, error) {
	if w == nil || w.Node == nil {
		return nil, ErrIncomplete
	}
	n := w.Node
	id := &Identity{
		NodeName:  strings.TrimSuffix(n.Name, "."),
		NodeID:    n.StableID,
		TailnetIP: addr,
		Shared:    !n.Sharer.IsZero() || !inTailnet(n.Name, tailnetSuffix),
		Caps:      w.CapMap,
	}
	if id.NodeName == "" {
		id.NodeName = n.ComputedName
	}
	if n.IsTagged() {
		id.Tags = slices.Clone(n.Tags)
		slices.Sort(id.Tags)
		return id, nil
	}
	if w.UserProfile == nil || w.UserProfile.LoginName == "" {
		return nil, ErrIncomplete
	}
	id.LoginName = w.UserProfile.LoginName
	id.UserID = w.UserProfile.ID
	id.DisplayName = w.UserProfile.DisplayName
	return id, nil
}

// inTailnet reports whether the node name fqdn ("laptop.tail1234.ts.net.")
// is under the MagicDNS suffix; true when the suffix is unknown.
func inTailnet(fqdn, suffix string) bool {
	suffix = strings.Trim(suffix, ".")
	if suffix == "" {
		return true
	}
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	return strings.HasSuffix(fqdn, "."+strings.ToLower(suffix))
}

type ctxKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity stored in ctx by NewContext, and whether
// there was one. A context without an identity must be treated as an
// unidentified caller and refused.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}
