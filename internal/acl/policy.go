// Package acl decides which tailnet callers may see and use which tools,
// prompts and resources.
//
// A Policy combines the local rules from the config file (Config) with the
// grants the tailnet policy file gives each caller under an app capability
// (Grant). Something is allowed when any local rule or any grant allows
// it; everything else is denied. One function per kind (Decide for tools,
// DecidePrompt, DecideResource) serves both listing and use, so a caller
// sees exactly what it may use.
package acl

import (
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// Policy is a compiled, validated Config. It is immutable and safe for
// concurrent use; to reload, build a new one with New and swap it in.
//
// The zero value has no rules and reads no grants: it denies everything to
// everyone. A nil *Policy does the same. Use New.
type Policy struct {
	capability string
	capKey     tailcfg.PeerCapability
	// grantReason is the Decision.Reason when a grant allows a tool.
	grantReason string
	// groups maps lower-cased group names to sets of lower-cased logins.
	groups map[string]map[string]struct{}
	rules  []rule

	// subjects and grants cache per-caller rule indexes and decoded
	// grant values (see index.go).
	subjects boundedCache[subjectKey, *subjectRules]
	grants   boundedCache[tailcfg.RawMessage, *decodedGrant]
}

// Decision is the outcome of Policy.Decide. The zero value denies, without
// a reason.
type Decision struct {
	// Allow is true when the caller may see and use the thing decided on.
	Allow bool
	// Reason says which rule or grant allowed the tool, or why it was
	// denied, for the audit log. It never contains secrets.
	Reason string
}

// New validates cfg and compiles it into a Policy. The error lists every
// problem found, one per line, each starting with its key path
// (e.g. "acl.rules[1].src[0]: unknown group ...").
func New(cfg Config) (*Policy, error) {
	var c compiler
	capability := c.capability(cfg.Capability)
	groups := c.groups(cfg.Groups)
	rules := c.rules(cfg.Rules, groups)
	if err := c.err(); err != nil {
		return nil, err
	}
	return &Policy{
		capability:  capability,
		capKey:      tailcfg.PeerCapability(capability),
		grantReason: "grant " + capability,
		groups:      groups,
		rules:       rules,
	}, nil
}

// Capability returns the app capability whose grants the policy reads
// (Config.Capability, or DefaultCapability when that is empty). It is
// empty for the zero Policy.
func (p *Policy) Capability() string {
	if p == nil {
		return ""
	}
	return p.capability
}

// Decide reports whether the caller id may see and call the tool.
//
// It fails closed: a nil identity, an untagged caller without a login, an
// invalid tool name or a grant under the policy's capability that does not
// decode all deny, the last even when a local rule would allow. A tagged
// node matches only the tag: principals it carries and "*".
//
// Decide reads the caller's grants from id on every call, so a revoked
// grant takes effect at once. For a caller seen before (and a grant value
// seen before) it does not allocate, except for nodes with several tags.
func (p *Policy) Decide(id *identity.Identity, tool string) Decision {
	return p.decide(KindTool, id, tool)
}

// DecidePrompt reports whether the caller id may see and get the prompt
// (a bridged prompt's served name, "<upstream>__<prompt>"). It decides as
// Decide does, from the rules' and grants' prompt patterns.
func (p *Policy) DecidePrompt(id *identity.Identity, prompt string) Decision {
	return p.decide(KindPrompt, id, prompt)
}

// DecideResource reports whether the caller id may see, read and subscribe
// to the resource with uri, as clients see it ("<upstream>+<original-uri>"
// for bridged resources); for a resource template, uri is its URI
// template. It decides as Decide does, from the resource patterns, on the
// URI as written, and only when the URI is in canonical form: one with a
// dot segment, a "//" in its path, a backslash or a percent-encoding that
// a resolver would turn into one of these (see uriProblem) is denied,
// whoever asks, so that the URI decided is the one the upstream resolves.
// Callers forward the URI exactly as decided, and decide again on every
// URI an upstream answers with.
func (p *Policy) DecideResource(id *identity.Identity, uri string) Decision {
	return p.decide(KindResource, id, uri)
}

// decide is the one decision of every kind.
func (p *Policy) decide(k Kind, id *identity.Identity, name string) Decision {
	if id == nil {
		return Decision{Reason: "unidentified caller"}
	}
	if p == nil || p.capability == "" {
		return Decision{Reason: "no policy"}
	}
	if !id.IsTagged() && id.LoginName == "" {
		return Decision{Reason: "caller has neither a login nor tags"}
	}
	if !k.validName(name) {
		return Decision{Reason: k.invalidReason(name)}
	}
	// Grants first: a malformed one denies even when a rule would allow.
	raws := id.Caps[p.capKey]
	for _, raw := range raws {
		if g := p.grant(raw); g.err != nil {
			return Decision{Reason: "malformed grant for " + p.capability + ": " + g.err.Error()}
		}
	}
	s := subject{tags: id.Tags, login: strings.ToLower(id.LoginName), shared: id.Shared}
	if reason, ok := p.rulesFor(&s, keyFor(&s))[k].allows(name); ok {
		return Decision{Allow: true, Reason: reason}
	}
	for _, raw := range raws {
		for _, pat := range p.grant(raw).patterns[k] {
			if matchGlob(pat, name) {
				return Decision{Allow: true, Reason: p.grantReason}
			}
		}
	}
	return Decision{Reason: denyReason[k]}
}

// denyReason is the Decision.Reason when nothing allows a name of a kind.
// (The audit line names it.)
var denyReason = [numKinds]string{
	KindTool:     "no rule or grant allows the tool",
	KindPrompt:   "no rule or grant allows the prompt",
	KindResource: "no rule or grant allows the resource",
}

// invalidReason is the Decision.Reason for a name that is not valid for
// its kind.
var invalidReason = [numKinds]string{
	KindTool:     "invalid tool name",
	KindPrompt:   "invalid prompt name",
	KindResource: "invalid resource URI",
}

// allows reports whether r lets s use name of kind k, and if so the
// reason.
func (r *rule) allows(s *subject, k Kind, name string) (string, bool) {
	if !r.matches(k, name) {
		return "", false
	}
	for i := range r.src {
		if r.src[i].matches(s) {
			return r.reasons[i], true
		}
	}
	return "", false
}

// matches reports whether any of r's patterns of kind k matches name.
func (r *rule) matches(k Kind, name string) bool {
	for _, t := range r.pats[k] {
		if t.match(name) {
			return true
		}
	}
	return false
}
