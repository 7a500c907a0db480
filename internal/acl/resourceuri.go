package acl

// Resource URIs are decided only in canonical form, and a URI that is not
// is refused, never rewritten.
//
// A pattern is matched against the URI as a string, but an upstream reads
// the resource its own parser resolves the URI to: a WHATWG URL parser
// (the TypeScript SDK) removes dot segments, "%2e%2e" included, and takes
// "\" for "/" in file: and http: URLs; a filesystem server decodes every
// percent-encoding ("%2f" too, sometimes twice), and path.Clean removes
// dot segments and doubled slashes, in an order of its own
// ("/a//../b" is "/a/b" to RFC 3986 but "/b" to path.Clean). So
// "every+demo://resource/static/document/../../dynamic/text/1" matches
// "every+demo://resource/static/document/*" and reads
// demo://resource/dynamic/text/1.
//
// Normalising before deciding would need one normal form that every
// upstream agrees with, and there is none (the example above). What every
// resolver leaves alone is a URI with nothing to resolve: no dot segment,
// no empty segment, no backslash, no percent-encoding that decodes to a
// separator, a dot or another unreserved character, a percent sign or a
// control character. Such a URI is decided as written and forwarded as
// written, so the URI decided is the URI the upstream resolves. Anything
// else is refused like any refusal (the caller sees "not found"; the
// audit line says why). Clients read URIs from lists and links, which are
// canonical; only a crafted spelling is lost.
//
// Letter case is left alone: a scheme, host or percent-encoding spelled in
// another case is another string, which matches only a pattern spelled
// that way (patterns are case-sensitive), so it can only be refused more.

// canonicalReason starts the Decision.Reason of a resource URI that is not
// in canonical form.
const canonicalReason = "resource URI not in canonical form: "

// uriProblem returns why uri (a resource URI or URI template, as clients
// see it) is not in the canonical form the policy decides on, or "" when
// it is. It requires:
//   - a scheme: "<scheme>:" where each "+"-separated part of the scheme
//     starts with a letter or digit, followed by letters, digits, "-" or
//     "." (the served "<upstream>+<scheme>" is one such scheme);
//   - no "\" anywhere;
//   - every "%" followed by two hex digits, decoding to none of: an
//     unreserved character (A-Z a-z 0-9 - . _ ~, which RFC 3986
//     normalisation decodes), "/", "\", "%" (a second decoding would
//     turn "%252e" into "%2e") or a control character;
//   - after the scheme, no segment between "/", "?" and "#" that is "."
//     or "..", ignoring ";" parameters ("..;"), in the authority, path,
//     query or fragment alike (servers that take the query for part of a
//     path exist); in the authority, "+" separates segments too, since
//     the served form of an MCP Apps resource, "ui://<upstream>+<rest>",
//     puts the upstream's own authority after a "+" ("ui://apps+../x"
//     is "ui://../x" upstream);
//   - no empty segment ("//") in the path (a trailing "/" is fine).
//
// It does not allocate unless it finds a problem.
func uriProblem(uri string) string {
	colon := -1
	for i := 0; i < len(uri) && colon < 0; i++ {
		c := uri[i]
		switch {
		case c == ':':
			colon = i
		case c == '+':
			if i == 0 || uri[i-1] == '+' {
				return "no scheme"
			}
		case isAlnum(c):
		case (c == '-' || c == '.') && i > 0 && uri[i-1] != '+':
		default:
			return "no scheme"
		}
	}
	if colon <= 0 || uri[colon-1] == '+' {
		return "no scheme"
	}
	for i := colon + 1; i < len(uri); i++ {
		switch uri[i] {
		case '\\':
			return "backslash"
		case '%':
			if i+2 >= len(uri) || !isHex(uri[i+1]) || !isHex(uri[i+2]) {
				return "malformed percent-encoding"
			}
			b := unhex(uri[i+1])<<4 | unhex(uri[i+2])
			switch {
			case isUnreserved(b):
				return "percent-encoded unreserved character " + uri[i:i+3]
			case b == '/' || b == '\\' || b == '%':
				return "percent-encoded " + uri[i:i+3]
			case b < 0x20 || b == 0x7f:
				return "percent-encoded control character " + uri[i:i+3]
			}
			i += 2
		}
	}
	rest := uri[colon+1:]
	if hasDotSegment(rest) || hasDotAuthorityPart(rest) {
		return "dot segment"
	}
	if p := uriPath(rest); hasEmptySegment(p) {
		return "empty path segment (//)"
	}
	return ""
}

// uriPath returns the path of rest, the part of a URI after "<scheme>:":
// what follows the authority, if any, up to "?" or "#".
func uriPath(rest string) string {
	p := rest
	if len(p) >= 2 && p[0] == '/' && p[1] == '/' {
		p = p[2:]
		i := 0
		for i < len(p) && p[i] != '/' && p[i] != '?' && p[i] != '#' {
			i++
		}
		p = p[i:]
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '?' || p[i] == '#' {
			return p[:i]
		}
	}
	return p
}

// hasDotSegment reports whether s, split at "/", "?" and "#", has a "." or
// ".." segment (isDotSegment).
func hasDotSegment(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '/' && s[i] != '?' && s[i] != '#' {
			continue
		}
		if isDotSegment(s[start:i]) {
			return true
		}
		start = i + 1
	}
	return false
}

// hasDotAuthorityPart reports whether the authority of rest (the part of a
// URI after "<scheme>:"), if it has one, split at "+", has a "." or ".."
// part (isDotSegment).
func hasDotAuthorityPart(rest string) bool {
	if len(rest) < 2 || rest[0] != '/' || rest[1] != '/' {
		return false
	}
	start := 2
	for i := 2; i <= len(rest); i++ {
		end := i == len(rest) || rest[i] == '/' || rest[i] == '?' || rest[i] == '#'
		if !end && rest[i] != '+' {
			continue
		}
		if isDotSegment(rest[start:i]) {
			return true
		}
		if end {
			return false
		}
		start = i + 1
	}
	return false
}

// isDotSegment reports whether seg is "." or "..", once ";" parameters
// ("..;x", "..%3B") are cut off.
func isDotSegment(seg string) bool {
	for j := 0; j < len(seg); j++ {
		if seg[j] == ';' || seg[j] == '%' && j+2 < len(seg) && seg[j+1] == '3' && (seg[j+2] == 'b' || seg[j+2] == 'B') {
			seg = seg[:j]
			break
		}
	}
	return seg == "." || seg == ".."
}

// hasEmptySegment reports whether path has "//" anywhere.
func hasEmptySegment(path string) bool {
	for i := 1; i < len(path); i++ {
		if path[i] == '/' && path[i-1] == '/' {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isUnreserved reports whether c is an RFC 3986 unreserved character.
func isUnreserved(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
