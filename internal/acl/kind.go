package acl

// Kind is a kind of thing the policy authorizes. Each kind has its own
// patterns in rules and grants, and its own decision function; all are
// default-deny.
type Kind uint8

const (
	// KindTool is a tool, matched by name.
	KindTool Kind = iota
	// KindPrompt is a prompt, matched by name.
	KindPrompt
	// KindResource is a resource, matched by URI, or a resource template,
	// matched by URI template.
	KindResource

	numKinds = 3
)

// kinds lists every Kind, in order.
var kinds = [numKinds]Kind{KindTool, KindPrompt, KindResource}

// String returns the kind's name as audit lines carry it: "tool",
// "prompt" or "resource".
func (k Kind) String() string {
	switch k {
	case KindTool:
		return "tool"
	case KindPrompt:
		return "prompt"
	case KindResource:
		return "resource"
	}
	return "unknown"
}

// key is the kind's key in rules and grants: "tools", "prompts" or
// "resources".
func (k Kind) key() string { return k.String() + "s" }

// maxResourceURI is the longest resource URI (and resource pattern)
// accepted. Longer URIs are denied.
const maxResourceURI = 4096

// validName reports whether s is a valid name of kind k: a tool or prompt
// name (^[a-zA-Z0-9_-]{1,64}$), or a resource URI (1 to maxResourceURI
// bytes, no spaces or control characters, in canonical form: see
// uriProblem).
func (k Kind) validName(s string) bool {
	if k == KindResource {
		return validURI(s) && uriProblem(s) == ""
	}
	return validToolName(s)
}

// invalidReason is the Decision.Reason for s, a name that is not valid
// for kind k.
func (k Kind) invalidReason(s string) string {
	if k == KindResource && validURI(s) {
		return canonicalReason + uriProblem(s)
	}
	return invalidReason[k]
}

// validPattern reports whether s is a valid pattern of kind k: a name of
// that kind in which "*" may appear.
func (k Kind) validPattern(s string) bool {
	if k == KindResource {
		return validURI(s)
	}
	return validPattern(s)
}

// validURI reports whether s is 1 to maxResourceURI bytes without spaces
// or ASCII control characters. A "*" counts as an ordinary character (it
// is legal in URIs); in a pattern it is the wildcard.
func validURI(s string) bool {
	if len(s) == 0 || len(s) > maxResourceURI {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// patternWant describes a valid pattern of kind k, for errors.
func (k Kind) patternWant() string {
	if k == KindResource {
		return "want 1-4096 characters without spaces or control characters, * for any run"
	}
	return "want 1-64 characters from a-z A-Z 0-9 _ - *"
}
