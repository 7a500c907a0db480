package acl

import "fmt"

// Offline views of the local rules, for `tsmcp check`. Tailnet grants are
// not known offline, so these show only what the local rules allow; a
// caller may get more from grants.

// Row is one line of Policy.Matrix: a principal and the tools the local
// rules allow it. The zero value is a row for no principal with no tools.
type Row struct {
	// Src is a principal as first written in the rules.
	Src string
	// Tools are the tools Src may call under the local rules, in the
	// order given to Matrix; nil when none.
	Tools []string
}

// ToolsFor returns which of tools the principal may call under the local
// rules alone, in the order given. It returns an error when principal is
// not valid policy syntax or names an unknown group.
//
// The principal stands for a caller:
//   - a login: that user, taken to be a member of this tailnet (matches the
//     login, groups containing it, autogroup:member and "*");
//   - group:<name>: any member of the group (matches the group,
//     autogroup:member and "*", but not rules naming its members' logins);
//   - tag:<name>: a node carrying only that tag (matches the tag and "*");
//   - autogroup:member or autogroup:shared: any such user, without groups;
//   - "*": any caller (matches only "*").
//
// Invalid tool names are never returned, as Decide denies them.
func (p *Policy) ToolsFor(principal string, tools []string) ([]string, error) {
	var groups map[string]map[string]struct{}
	if p != nil {
		groups = p.groups
	}
	pr, err := parsePrincipal(principal, groups)
	if err != nil {
		return nil, err
	}
	return p.toolsFor(pr.asSubject(), tools), nil
}

// Matrix returns who may call what under the local rules: one row per
// distinct principal in the rules (logins and group names compared
// case-insensitively), in order of first appearance, each with the tools
// ToolsFor gives it. It returns nil for a policy without rules.
func (p *Policy) Matrix(tools []string) []Row {
	if p == nil {
		return nil
	}
	var rows []Row
	seen := make(map[string]bool)
	for _, r := range p.rules {
		for _, pr := range r.src {
			if seen[pr.key()] {
				continue
			}
			seen[pr.key()] = true
			rows = append(rows, Row{Src: pr.text, Tools: p.toolsFor(pr.asSubject(), tools)})
		}
	}
	return rows
}

// asSubject returns the offline caller that pr stands for (see ToolsFor).
func (pr principal) asSubject() subject {
	switch pr.kind {
	case kindLogin:
		return subject{login: pr.name}
	case kindGroup:
		return subject{group: pr.name}
	case kindTag:
		return subject{tags: []string{pr.name}}
	case kindShared:
		return subject{shared: true}
	case kindMember:
		return subject{}
	}
	return subject{anyOnly: true}
}

func (p *Policy) toolsFor(s subject, tools []string) []string {
	return p.namesFor(s, KindTool, tools)
}

// NamesFor returns which of names (of kind k) the principal may use under
// the local rules alone, in the order given: ToolsFor for any kind.
func (p *Policy) NamesFor(principal string, k Kind, names []string) ([]string, error) {
	var groups map[string]map[string]struct{}
	if p != nil {
		groups = p.groups
	}
	pr, err := parsePrincipal(principal, groups)
	if err != nil {
		return nil, err
	}
	return p.namesFor(pr.asSubject(), k, names), nil
}

func (p *Policy) namesFor(s subject, k Kind, names []string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, name := range names {
		if !k.validName(name) {
			continue
		}
		for i := range p.rules {
			if _, ok := p.rules[i].allows(&s, k, name); ok {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// PatternsFor returns the patterns of kind k in the local rules that name
// principal (as ToolsFor reads it), as written, in rule order without
// repeats. For prompts and resources, whose names are known only once the
// upstreams run, this is what `tsmcp check` can show offline.
func (p *Policy) PatternsFor(principal string, k Kind) ([]string, error) {
	var groups map[string]map[string]struct{}
	if p != nil {
		groups = p.groups
	}
	pr, err := parsePrincipal(principal, groups)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, nil
	}
	s := pr.asSubject()
	var out []string
	seen := map[string]bool{}
	for i := range p.rules {
		r := &p.rules[i]
		if !r.names(&s) {
			continue
		}
		for _, pat := range r.pats[k] {
			if !seen[pat.text] {
				seen[pat.text] = true
				out = append(out, pat.text)
			}
		}
	}
	return out, nil
}

// names reports whether any of r's principals matches s.
func (r *rule) names(s *subject) bool {
	for i := range r.src {
		if r.src[i].matches(s) {
			return true
		}
	}
	return false
}

// Unmatched returns a warning for every rule pattern of kind k that
// matches none of names and could match no name starting with any of
// prefixes (the names upstreams add at run time, e.g. "docs__" or
// "docs+"). Such a pattern is most likely a typo. Each warning starts with
// the pattern's key path, e.g. `acl.rules[2].tools[0]: "wiki__*" matches
// no known tool`.
func (p *Policy) Unmatched(k Kind, names, prefixes []string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for i := range p.rules {
		for j, pat := range p.rules[i].pats[k] {
			if matchesAny(pat, names) || reachesAny(pat.text, prefixes) {
				continue
			}
			what := "no known " + k.String()
			if len(prefixes) > 0 {
				what += " and no upstream's"
			}
			out = append(out, fmt.Sprintf("acl.rules[%d].%s[%d]: %q matches %s", i, k.key(), j, pat.text, what))
		}
	}
	return out
}

func matchesAny(pat pattern, names []string) bool {
	for _, n := range names {
		if pat.match(n) {
			return true
		}
	}
	return false
}

func reachesAny(pat string, prefixes []string) bool {
	for _, pre := range prefixes {
		if CanMatchPrefix(pat, pre) {
			return true
		}
	}
	return false
}

// CanMatchPrefix reports whether the glob pattern pat matches at least one
// string that starts with prefix: whether a bridged name under prefix
// (e.g. "docs__") could be allowed by pat.
func CanMatchPrefix(pat, prefix string) bool {
	// Positions in pat that the glob may be at after reading prefix; a
	// "*" may stay or be passed over.
	cur := map[int]bool{0: true}
	closeStars := func(set map[int]bool) {
		for changed := true; changed; {
			changed = false
			for i := range set {
				if i < len(pat) && pat[i] == '*' && !set[i+1] {
					set[i+1] = true
					changed = true
				}
			}
		}
	}
	closeStars(cur)
	for n := 0; n < len(prefix); n++ {
		next := map[int]bool{}
		for i := range cur {
			switch {
			case i < len(pat) && pat[i] == '*':
				next[i] = true
			case i < len(pat) && pat[i] == prefix[n]:
				next[i+1] = true
			}
		}
		closeStars(next)
		if len(next) == 0 {
			return false
		}
		cur = next
	}
	// Whatever is left of pat can always be completed by some suffix.
	return len(cur) > 0
}
