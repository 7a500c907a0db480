package acl

import "fmt"

// A pattern is a name in which "*" matches any run of characters,
// including none: "docs__*", "*_status", "*", "docs+file:///*". Without a
// "*" it matches exactly one name. Matching is case-sensitive.
//
// Tool and prompt patterns use the name alphabet plus "*" and are 1 to 64
// bytes long; names match ^[a-zA-Z0-9_-]{1,64}$ (see docs/policy.md).
// Resource patterns are URIs (see Kind.validPattern).

// maxToolName is the longest tool name (and tool pattern) accepted.
const maxToolName = 64

// pattern is a validated tool pattern.
type pattern struct {
	// text is the pattern as written.
	text string
	// glob is true when text contains a "*"; otherwise it matches by
	// string equality.
	glob bool
}

// compilePattern validates s as a pattern of kind k and returns it. The
// error describes the problem without a key path; the caller adds one.
func compilePattern(k Kind, s string) (pattern, error) {
	if !k.validPattern(s) {
		return pattern{}, fmt.Errorf("%q is not a valid %s pattern (%s)", s, k, k.patternWant())
	}
	return pattern{text: s, glob: containsStar(s)}, nil
}

// match reports whether the tool name matches p.
func (p pattern) match(tool string) bool {
	if !p.glob {
		return p.text == tool
	}
	return matchGlob(p.text, tool)
}

// validPattern reports whether s is a valid tool pattern.
func validPattern(s string) bool {
	if len(s) == 0 || len(s) > maxToolName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '*' && !isToolChar(c) {
			return false
		}
	}
	return true
}

// validToolName reports whether s is a valid tool name.
func validToolName(s string) bool {
	if len(s) == 0 || len(s) > maxToolName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isToolChar(s[i]) {
			return false
		}
	}
	return true
}

func isToolChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func containsStar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			return true
		}
	}
	return false
}

// matchGlob reports whether name matches pat, where each "*" in pat matches
// any run of bytes (including none) and every other byte matches itself.
// It does not allocate and runs in O(len(pat)*len(name)) at worst.
//
// A "*" followed by more pattern does not match "?" or "#": in
// "docs+file:///*/public/*" the first "*" stays within the path, so
// "docs+file:///secret?/public/x" (which a server that drops the query
// reads as /secret) does not match. A final "*" matches anything. Tool and
// prompt names have neither character.
func matchGlob(pat, name string) bool {
	p, n := 0, 0
	// Position of the last "*" seen in pat, and the position in name
	// that star is currently assumed to extend to; -1 when none yet.
	star, starN := -1, -1
	for n < len(name) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, starN = p, n
			p++
		case p < len(pat) && pat[p] == name[n]:
			p++
			n++
		case star >= 0:
			// Backtrack: let the last star swallow one more byte; a
			// star with more pattern after it stops at a URI's query or
			// fragment (see below).
			if star+1 < len(pat) && (name[starN] == '?' || name[starN] == '#') {
				return false
			}
			starN++
			p, n = star+1, starN
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
