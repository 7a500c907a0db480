package upstream

import (
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Upstreams configured `prefix: false` serve their tools, prompts and
// resources under the names and URIs they list, so two of them, or one
// of them and a built-in or declared tool, can list the same name. The
// provider's lists (Tools, Prompts, Resources) and its routing
// (upstreamFor, CompletePrompt, CompleteResource) agree on one owner per
// name, by these rules:
//
//   - A prefixed upstream's names ("<up>__…", "<up>+…", "ui://<up>+…")
//     are its own: an
//     unprefixed upstream's item in that namespace is dropped, whatever
//     the prefixed upstream lists.
//   - A tool name in Options.ReservedTools (built-in and declared tools)
//     is dropped.
//   - Among unprefixed upstreams, the first in configuration order that
//     lists a name or URI keeps it; the others' are dropped.
//
// Each drop is a log line (rate-limited: the lists are merged again after
// every change). A resource URI no upstream lists goes to the first
// unprefixed upstream with a template that matches it, or, when there is
// exactly one unprefixed upstream, to that one (a resource_link its tool
// returned, say); the policy decided the URI before any of this.

// claims records who serves the names of one kind in one merge of the
// lists.
type claims struct {
	p    *Provider
	kind string // "tool", "prompt", "resource", "template"
	// ns returns the prefixed upstream whose namespace a name is in.
	ns    func(string) *upstream
	taken map[string]string
	// dropped describes each name dropped, for Collisions.
	dropped []string
	log     bool // log each drop
}

func (p *Provider) newClaims(kind string, ns func(string) *upstream, reserved []string, log bool) *claims {
	c := &claims{p: p, kind: kind, ns: ns, taken: map[string]string{}, log: log}
	for _, n := range reserved {
		c.taken[n] = "a built-in or declared tool"
	}
	return c
}

// keep reports whether u may serve name, and records it. A prefixed
// upstream's names are always its own (they are in its namespace).
func (c *claims) keep(u *upstream, name string) bool {
	if !u.unprefixed {
		c.taken[name] = "upstream " + u.name
		return true
	}
	owner, ok := c.taken[name]
	if !ok {
		if up := c.ns(name); up != nil {
			owner, ok = "upstream "+up.name+"'s prefix", true
		}
	}
	if ok {
		c.dropped = append(c.dropped, fmt.Sprintf("upstream %s: %s %q is dropped: %s serves it", u.name, c.kind, safetext.Show(name, 128), owner))
		if c.log {
			u.warns.Warn("upstream "+c.kind+" dropped: another serves the name", c.kind, safetext.Log(name, 128), "by", owner)
		}
		return false
	}
	c.taken[name] = "upstream " + u.name
	return true
}

// nameNamespaceOf returns the prefixed upstream whose namespace a tool or
// prompt name is in ("<up>__…"), or nil.
func (p *Provider) nameNamespaceOf(name string) *upstream {
	up, _, ok := strings.Cut(name, nameSep)
	if !ok {
		return nil
	}
	return p.prefixedNamed(up)
}

// uriNamespaceOf returns the prefixed upstream whose namespace a resource
// URI or URI template is in ("<up>+…", "ui://<up>+…"; see splitURI), or
// nil.
func (p *Provider) uriNamespaceOf(uri string) *upstream {
	up, _, _ := splitURI(uri)
	if up == "" {
		return nil
	}
	return p.prefixedNamed(up)
}

// prefixedNamed returns the prefixed upstream called name, or nil.
func (p *Provider) prefixedNamed(name string) *upstream {
	for _, u := range p.ups {
		if !u.unprefixed && u.name == name {
			return u
		}
	}
	return nil
}

// unprefixedFor returns the unprefixed upstream that serves uri (as
// clients see it, which is the upstream's own), by the rules above, or
// nil.
func (p *Provider) unprefixedFor(uri string) *upstream {
	var only []*upstream
	for _, u := range p.ups {
		if !u.unprefixed {
			continue
		}
		only = append(only, u)
		if u.lists(uri) {
			return u
		}
	}
	for _, u := range only {
		if u.templateMatches(uri) {
			return u
		}
	}
	if len(only) == 1 {
		return only[0]
	}
	return nil
}

// lists reports whether the upstream's last listing has the resource uri
// (as clients see it).
func (u *upstream) lists(uri string) bool {
	u.feat.mu.Lock()
	defer u.feat.mu.Unlock()
	for _, r := range u.feat.resources {
		if r.URI == uri {
			return true
		}
	}
	return false
}

// templateMatches reports whether one of the upstream's listed resource
// templates matches uri.
func (u *upstream) templateMatches(uri string) bool {
	u.feat.mu.Lock()
	defer u.feat.mu.Unlock()
	for _, t := range u.feat.templates {
		if templateMatch(t, uri) {
			return true
		}
	}
	return false
}

func templateMatch(t mcp.ResourceTemplate, uri string) bool {
	return t.URITemplate != nil && t.URITemplate.Template != nil && t.URITemplate.Regexp().MatchString(uri)
}

// mergeTools returns the upstreams' tools, each name with one owner by the
// rules above, and describes what it dropped (logged when log is set).
func (p *Provider) mergeTools(log bool) ([]tools.Tool, []string) {
	c := p.newClaims("tool", p.nameNamespaceOf, p.opts.ReservedTools, log)
	var all []tools.Tool
	for _, u := range p.ups {
		for _, t := range u.currentTools() {
			if c.keep(u, t.Tool.Name) {
				all = append(all, t)
			}
		}
	}
	return all, c.dropped
}

// mergePrompts is mergeTools for prompts.
func (p *Provider) mergePrompts(log bool) ([]tools.Prompt, []string) {
	c := p.newClaims("prompt", p.nameNamespaceOf, nil, log)
	var all []tools.Prompt
	for _, u := range p.ups {
		u.feat.mu.Lock()
		ps := u.feat.prompts
		u.feat.mu.Unlock()
		for _, pr := range ps {
			if c.keep(u, pr.Prompt.Name) {
				all = append(all, pr)
			}
		}
	}
	return all, c.dropped
}

// mergeResources is mergeTools for resources and resource templates.
func (p *Provider) mergeResources(log bool) ([]mcp.Resource, []mcp.ResourceTemplate, []string) {
	var rs []mcp.Resource
	var ts []mcp.ResourceTemplate
	rc := p.newClaims("resource", p.uriNamespaceOf, nil, log)
	tc := p.newClaims("template", p.uriNamespaceOf, nil, log)
	for _, u := range p.ups {
		u.feat.mu.Lock()
		urs, uts := u.feat.resources, u.feat.templates
		u.feat.mu.Unlock()
		for _, r := range urs {
			if rc.keep(u, r.URI) {
				rs = append(rs, r)
			}
		}
		for _, t := range uts {
			if tc.keep(u, t.URITemplate.Raw()) {
				ts = append(ts, t)
			}
		}
	}
	return rs, ts, append(rc.dropped, tc.dropped...)
}

// Collisions describes every name, URI and URI template of an unprefixed
// upstream that the current listings drop by the rules above, one line
// each ("upstream again: tool \"search\" is dropped: upstream a serves
// it"); none when nothing collides. `tsmcp check --probe` reports them as
// errors; `tsmcp serve` logs them and serves the rest.
func (p *Provider) Collisions() []string {
	_, out := p.mergeTools(false)
	_, dp := p.mergePrompts(false)
	_, _, dr := p.mergeResources(false)
	return append(append(out, dp...), dr...)
}

// listedBy returns the upstream that serves name (a prompt's served name,
// a URI template as clients see it) and its own name for it, looked up in
// the map served picks (under the upstream's feature lock): ns, the
// prefixed upstream whose namespace name is in, when there is one; else
// the first unprefixed upstream that lists it. Nil when none does.
func (p *Provider) listedBy(ns *upstream, name string, served func(*upstream) map[string]string) (*upstream, string) {
	lookup := func(u *upstream) (string, bool) {
		u.feat.mu.Lock()
		defer u.feat.mu.Unlock()
		orig, ok := served(u)[name]
		return orig, ok
	}
	if ns != nil {
		if orig, ok := lookup(ns); ok {
			return ns, orig
		}
		return nil, ""
	}
	for _, u := range p.ups {
		if !u.unprefixed {
			continue
		}
		if orig, ok := lookup(u); ok {
			return u, orig
		}
	}
	return nil, ""
}
