package acl

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// capabilityRE matches an app capability name: a domain with at least one
// dot, then one or more path segments (e.g. tsmcp.dev/cap/mcp).
var capabilityRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)+(/[a-zA-Z0-9_.~-]+)+$`)

// rule is a compiled Rule.
type rule struct {
	src []principal
	// pats are the rule's patterns, per kind.
	pats [numKinds][]pattern
	// reasons[i] is the Decision.Reason when src[i] allows something.
	reasons []string
}

// compiler collects every problem in a Config, each prefixed with its key
// path (e.g. acl.rules[1].src[0]).
type compiler struct {
	errs []error
}

func (c *compiler) addf(path, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (c *compiler) add(path string, err error) {
	c.errs = append(c.errs, fmt.Errorf("%s: %w", path, err))
}

func (c *compiler) err() error { return errors.Join(c.errs...) }

// capability returns the effective capability name of cfg.
func (c *compiler) capability(name string) string {
	if name == "" {
		return DefaultCapability
	}
	if !capabilityRE.MatchString(name) {
		c.addf("acl.capability", "%q is not a valid capability name (want domain/path, e.g. %s)", name, DefaultCapability)
	}
	return name
}

// groups returns the groups keyed by lower-cased name, each a set of
// lower-cased logins. Group names are case-insensitive because config
// loaders (viper) lower-case map keys.
func (c *compiler) groups(groups map[string][]string) map[string]map[string]struct{} {
	out := make(map[string]map[string]struct{}, len(groups))
	seen := make(map[string]string, len(groups)) // lower-cased → as written
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names) // report problems in a stable order
	for _, name := range names {
		path := "acl.groups." + name
		if !groupNameRE.MatchString(name) {
			c.addf("acl.groups", "%q is not a valid group name (want [a-zA-Z0-9][a-zA-Z0-9_-]*)", name)
		}
		key := strings.ToLower(name)
		if prev, ok := seen[key]; ok {
			c.addf(path, "same group as %q (group names are case-insensitive)", prev)
		}
		seen[key] = name
		members := out[key]
		if members == nil {
			members = make(map[string]struct{}, len(groups[name]))
			out[key] = members
		}
		for i, login := range groups[name] {
			if err := checkLogin(login); err != nil {
				c.add(fmt.Sprintf("%s[%d]", path, i), err)
				continue
			}
			members[strings.ToLower(login)] = struct{}{}
		}
	}
	return out
}

// rules compiles the local rules against the compiled groups.
func (c *compiler) rules(rules []Rule, groups map[string]map[string]struct{}) []rule {
	out := make([]rule, 0, len(rules))
	for i, r := range rules {
		path := fmt.Sprintf("acl.rules[%d]", i)
		var cr rule
		if len(r.Src) == 0 {
			c.addf(path+".src", "must not be empty")
		}
		for j, s := range r.Src {
			p, err := parsePrincipal(s, groups)
			if err != nil {
				c.add(fmt.Sprintf("%s.src[%d]", path, j), err)
				continue
			}
			cr.src = append(cr.src, p)
			cr.reasons = append(cr.reasons, fmt.Sprintf("%s (src %s)", path, s))
		}
		if len(r.Tools)+len(r.Prompts)+len(r.Resources) == 0 {
			c.addf(path, "allows nothing: give at least one of tools, prompts or resources")
		}
		for _, k := range kinds {
			for j, t := range r.patterns(k) {
				p, err := compilePattern(k, t)
				if err != nil {
					c.add(fmt.Sprintf("%s.%s[%d]", path, k.key(), j), err)
					continue
				}
				cr.pats[k] = append(cr.pats[k], p)
			}
		}
		out = append(out, cr)
	}
	return out
}

// patterns returns the rule's patterns of kind k, as written.
func (r *Rule) patterns(k Kind) []string {
	switch k {
	case KindTool:
		return r.Tools
	case KindPrompt:
		return r.Prompts
	case KindResource:
		return r.Resources
	}
	return nil
}
