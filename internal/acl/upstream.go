package acl

import (
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// DecideUpstream reports whether the caller id may use the upstream
// named upstream at all: whether a tool pattern of a rule naming id, or
// of id's grants, can allow some tool the upstream serves. For a
// prefixed upstream that is any pattern that can match a name starting
// with "<upstream>__" (so it is known before the upstream has listed
// anything); tools are the upstream's served tool names as listed now,
// any of which Decide allows is enough too (the only way for an
// upstream with prefix: false). The host asks it before a caller may
// connect its own credentials to the upstream. It fails closed as Decide
// does.
func (p *Policy) DecideUpstream(id *identity.Identity, upstream string, prefixed bool, tools []string) Decision {
	for _, t := range tools {
		if d := p.Decide(id, t); d.Allow {
			return d
		}
	}
	deny := Decision{Reason: "no rule or grant allows a tool of the upstream"}
	if !prefixed || upstream == "" || strings.ContainsAny(upstream, "*_+") {
		return deny
	}
	// The checks of decide, with a tool name that any prefix match
	// would need.
	if d := p.decide(KindTool, id, upstream+"__x"); !d.Allow && d.Reason != denyReason[KindTool] {
		return d
	}
	prefix := upstream + "__"
	s := subject{tags: id.Tags, login: strings.ToLower(id.LoginName), shared: id.Shared}
	kr := p.rulesFor(&s, keyFor(&s))[KindTool]
	for name, hit := range kr.exact {
		if strings.HasPrefix(name, prefix) {
			return Decision{Allow: true, Reason: hit.reason}
		}
	}
	for _, g := range kr.globs {
		if CanMatchPrefix(g.pattern, prefix) {
			return Decision{Allow: true, Reason: g.reason}
		}
	}
	for _, raw := range id.Caps[p.capKey] {
		for _, pat := range p.grant(raw).patterns[KindTool] {
			if CanMatchPrefix(pat, prefix) {
				return Decision{Allow: true, Reason: p.grantReason}
			}
		}
	}
	return deny
}
