package acl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Principal syntax, as in Tailscale's policy file.
const (
	groupPrefix     = "group:"
	tagPrefix       = "tag:"
	autogroupPrefix = "autogroup:"
	autogroupMember = "autogroup:member"
	autogroupShared = "autogroup:shared"
	anyPrincipal    = "*"
)

var (
	groupNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
	tagNameRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)
)

// principalWant lists the accepted principal forms, for error messages.
const principalWant = "want user@domain, group:<name>, tag:<name>, autogroup:member, autogroup:shared or *"

// kind is the kind of a principal.
type kind uint8

const (
	kindAny    kind = iota + 1 // "*": any identified caller
	kindLogin                  // alice@example.com
	kindGroup                  // group:<name>
	kindTag                    // tag:<name>
	kindMember                 // autogroup:member
	kindShared                 // autogroup:shared
)

// principal is a parsed principal.
type principal struct {
	kind kind
	// text is the principal as written.
	text string
	// name is what the principal is compared by: the lower-cased login,
	// the lower-cased group name or the tag with its "tag:" prefix. Empty
	// for "*" and the autogroups.
	name string
	// members holds the lower-cased logins of a group; nil otherwise.
	members map[string]struct{}
}

// key identifies the principal regardless of how it was spelled.
func (p principal) key() string {
	switch p.kind {
	case kindLogin:
		return p.name
	case kindGroup:
		return groupPrefix + p.name
	}
	return p.text
}

// parsePrincipal parses s. groups maps lower-cased group names to their
// lower-cased member logins; a group: principal must name one of them. The
// error describes the problem without a key path; the caller adds one.
func parsePrincipal(s string, groups map[string]map[string]struct{}) (principal, error) {
	p := principal{text: s}
	switch {
	case s == anyPrincipal:
		p.kind = kindAny
	case strings.HasPrefix(s, groupPrefix):
		name := strings.TrimPrefix(s, groupPrefix)
		if !groupNameRE.MatchString(name) {
			return principal{}, fmt.Errorf("%q is not a valid group (want group:<name>, name [a-zA-Z0-9][a-zA-Z0-9_-]*)", s)
		}
		p.kind, p.name = kindGroup, strings.ToLower(name)
		members, ok := groups[p.name]
		if !ok {
			return principal{}, fmt.Errorf("unknown group %q (define it under acl.groups)", name)
		}
		p.members = members
	case strings.HasPrefix(s, tagPrefix):
		if !tagNameRE.MatchString(strings.TrimPrefix(s, tagPrefix)) {
			return principal{}, fmt.Errorf("%q is not a valid tag (want tag:<name>, name [a-zA-Z][a-zA-Z0-9-]*)", s)
		}
		p.kind, p.name = kindTag, s
	case s == autogroupMember:
		p.kind = kindMember
	case s == autogroupShared:
		p.kind = kindShared
	case strings.HasPrefix(s, autogroupPrefix):
		return principal{}, fmt.Errorf("%q is not supported (want autogroup:member or autogroup:shared)", s)
	case strings.Contains(s, "@"):
		if err := checkLogin(s); err != nil {
			return principal{}, err
		}
		p.kind, p.name = kindLogin, strings.ToLower(s)
	default:
		return principal{}, fmt.Errorf("%q is not a principal (%s)", s, principalWant)
	}
	return p, nil
}

// checkLogin reports whether s is a login: exactly one "@" with something
// on both sides, and no spaces or colons.
func checkLogin(s string) error {
	user, domain, ok := strings.Cut(s, "@")
	if !ok || user == "" || domain == "" || strings.Contains(domain, "@") ||
		strings.ContainsAny(s, ": \t\r\n") {
		return fmt.Errorf("%q is not a login (want user@domain)", s)
	}
	return nil
}

// subject is who a principal is matched against: a caller from Decide, or
// a principal given to ToolsFor.
type subject struct {
	// tags are the node's tags; non-empty means a tagged node, which
	// matches only tag: principals it carries and "*".
	tags []string
	// login is the lower-cased login; empty when not known.
	login string
	// group is a lower-cased group name the subject is known to be a
	// member of (offline checks only); empty otherwise.
	group string
	// shared is true for a user of another tailnet on a shared node.
	shared bool
	// anyOnly makes the subject match only "*" (offline "--as *").
	anyOnly bool
}

// matches reports whether s is one of the callers p names.
func (p *principal) matches(s *subject) bool {
	if p.kind == kindAny {
		return true
	}
	if s.anyOnly {
		return false
	}
	if len(s.tags) > 0 {
		// A tagged node has no user: only its tags count.
		return p.kind == kindTag && slices.Contains(s.tags, p.name)
	}
	switch p.kind {
	case kindLogin:
		return s.login != "" && s.login == p.name
	case kindGroup:
		if s.group != "" && s.group == p.name {
			return true
		}
		_, ok := p.members[s.login]
		return s.login != "" && ok
	case kindMember:
		return !s.shared
	case kindShared:
		return s.shared
	}
	return false
}
