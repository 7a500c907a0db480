package acl

import "github.com/tsmcp/tsmcp/internal/identity"

// TEMPORARY deny-all stubs until "acl: prompts and resources" lands on main.

// DecidePrompt reports whether id may see and get the prompt.
func (p *Policy) DecidePrompt(id *identity.Identity, prompt string) Decision {
	return Decision{Reason: "stub"}
}

// DecideResource reports whether id may see, read and subscribe to the resource.
func (p *Policy) DecideResource(id *identity.Identity, uri string) Decision {
	return Decision{Reason: "stub"}
}
