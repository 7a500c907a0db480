package oauth

import (
	"net/http"
	"strings"
)

// Challenge is what an upstream's Bearer challenge (the WWW-Authenticate
// header of a 401 or 403, RFC 6750 section 3 and RFC 9728 section 5.1)
// says. The zero value is no challenge.
type Challenge struct {
	// ResourceMetadata is the URL of the protected resource metadata
	// (resource_metadata); empty means discover it at the well-known URLs.
	ResourceMetadata string
	// Scopes are the scopes the challenge names (scope); nil when absent.
	Scopes []string
	// Error is the error code (error), e.g. "invalid_token" or
	// "insufficient_scope"; empty when absent.
	Error string
}

// InsufficientScope reports whether the challenge asks for more scopes.
func (c Challenge) InsufficientScope() bool { return c.Error == "insufficient_scope" }

// ParseChallenge reads the Bearer challenge of a response's
// WWW-Authenticate headers. ok is false when none of them is a Bearer
// challenge.
func ParseChallenge(h http.Header) (c Challenge, ok bool) {
	for _, v := range h.Values("WWW-Authenticate") {
		for _, ch := range parseChallenges(v) {
			if !strings.EqualFold(ch.scheme, "Bearer") {
				continue
			}
			c = Challenge{ResourceMetadata: ch.params["resource_metadata"], Error: ch.params["error"]}
			if s, has := ch.params["scope"]; has {
				c.Scopes = strings.Fields(s)
			}
			return c, true
		}
	}
	return Challenge{}, false
}

// authChallenge is one challenge of a WWW-Authenticate value.
type authChallenge struct {
	scheme string
	params map[string]string // lower-case names
}

// parseChallenges splits a WWW-Authenticate value (RFC 9110 section 11.6.1)
// into its challenges: a scheme, then comma-separated name=value
// parameters whose values are tokens or quoted strings. A challenge
// starts at a token not followed by "=".
func parseChallenges(v string) []authChallenge {
	var out []authChallenge
	p := &lexer{s: v}
	for {
		p.skip(", \t")
		if p.done() {
			return out
		}
		tok := p.token()
		if tok == "" {
			return out // malformed: stop at what was understood
		}
		p.skip(" \t")
		if p.peek() == '=' && len(out) > 0 {
			// A parameter of the current challenge.
			p.pos++
			p.skip(" \t")
			out[len(out)-1].params[strings.ToLower(tok)] = p.value()
			continue
		}
		out = append(out, authChallenge{scheme: tok, params: map[string]string{}})
		// The first parameter follows the scheme after a space.
		p.skip(" \t")
		if name := p.token(); name != "" {
			p.skip(" \t")
			if p.peek() == '=' {
				p.pos++
				p.skip(" \t")
				out[len(out)-1].params[strings.ToLower(name)] = p.value()
			}
			// Otherwise token68 or junk: ignored.
		}
	}
}

// lexer walks a header value.
type lexer struct {
	s   string
	pos int
}

func (l *lexer) done() bool { return l.pos >= len(l.s) }

func (l *lexer) peek() byte {
	if l.done() {
		return 0
	}
	return l.s[l.pos]
}

// skip advances over any bytes of set.
func (l *lexer) skip(set string) {
	for !l.done() && strings.IndexByte(set, l.s[l.pos]) >= 0 {
		l.pos++
	}
}

// token reads an RFC 9110 token (also token68's characters but '=').
func (l *lexer) token() string {
	start := l.pos
	for !l.done() {
		c := l.s[l.pos]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			if c != '/' && c != ':' { // lenient: unquoted URLs
				break
			}
		}
		l.pos++
	}
	return l.s[start:l.pos]
}

// value reads a parameter value: a quoted string (with backslash
// escapes) or a token.
func (l *lexer) value() string {
	if l.peek() != '"' {
		return l.token()
	}
	l.pos++
	var b strings.Builder
	for !l.done() {
		c := l.s[l.pos]
		l.pos++
		switch c {
		case '\\':
			if !l.done() {
				b.WriteByte(l.s[l.pos])
				l.pos++
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
