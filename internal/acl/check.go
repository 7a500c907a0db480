package acl

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
	if p == nil {
		return nil
	}
	var out []string
	for _, tool := range tools {
		if !validToolName(tool) {
			continue
		}
		for i := range p.rules {
			if _, ok := p.rules[i].allows(&s, KindTool, tool); ok {
				out = append(out, tool)
				break
			}
		}
	}
	return out
}
