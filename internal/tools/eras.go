package tools

import "github.com/mark3labs/mcp-go/mcp"

// Kind names the kind of a served name: a tool or a prompt.
type Kind int

// Kinds of ModernOnlyProvider.ModernOnly.
const (
	KindTool Kind = iota
	KindPrompt
)

// ModernOnlyProvider is implemented by providers some of whose tools or
// prompts exist only in the stateless protocol (2026-07-28): a bridged
// upstream that lists them only to requests of that era. The host serves
// those to callers on that protocol only, as the upstream does.
type ModernOnlyProvider interface {
	// ModernOnly reports whether the tool (or prompt) clients know as
	// name is one of those.
	ModernOnly(kind Kind, name string) bool
}

// MissingCapabilityError is a provider's answer to a request that needs
// a client capability the caller did not declare (an upstream's
// MissingRequiredClientCapabilityError, 2026-07-28): the host answers
// the caller with that error (-32021, HTTP 400).
type MissingCapabilityError struct {
	// Required are the capabilities the request needs; the zero value
	// names none.
	Required mcp.ClientCapabilities
}

func (e *MissingCapabilityError) Error() string {
	return "missing required client capability"
}
