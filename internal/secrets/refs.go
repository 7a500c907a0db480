package secrets

import (
	"fmt"
	"slices"
	"strings"
)

// refOpen starts a reference to a secret in a config value:
// ${secret:NAME}.
const refOpen = "${secret:"

// Refs returns the names of the secrets s refers to as ${secret:NAME},
// sorted and without repeats; nil when it refers to none. A reference
// that is not closed or whose NAME does not match NameRE is an error
// naming it.
func Refs(s string) ([]string, error) {
	var names []string
	for {
		i := strings.Index(s, refOpen)
		if i < 0 {
			break
		}
		s = s[i+len(refOpen):]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return nil, fmt.Errorf("%s%s is not closed with '}'", refOpen, s)
		}
		name := s[:end]
		if !NameRE.MatchString(name) {
			return nil, fmt.Errorf("%s%s} is not a valid secret name (a letter or digit, then up to 127 letters, digits, '.', '_' or '-')", refOpen, name)
		}
		names = append(names, name)
		s = s[end+1:]
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// HasRefs reports whether s holds anything that looks like a reference to
// a secret (well formed or not).
func HasRefs(s string) bool { return strings.Contains(s, refOpen) }

// Expand replaces each ${secret:NAME} in s with values[NAME]. Every name
// Refs(s) returns must be in values (Resolve makes sure of it); s is
// config text, never the caller's, so nothing the caller sent is expanded.
func Expand(s string, values map[string]string) string {
	if !HasRefs(s) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, refOpen)
		if i < 0 {
			break
		}
		rest := s[i+len(refOpen):]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(values[rest[:end]])
		s = rest[end+1:]
	}
	b.WriteString(s)
	return b.String()
}
