package tools

import (
	"context"
	"errors"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ErrNotFound is what a ResourceProvider or PromptProvider returns for a
// URI, template or prompt it does not have. The host answers every such
// request, and every request the policy refuses, with the same generic
// error, so that a refused thing looks exactly like a missing one.
var ErrNotFound = errors.New("not found")

// Prompt is one MCP prompt: its definition as clients see it and its
// handler.
type Prompt = server.ServerPrompt

// ResourceProvider is implemented by providers that also supply resources
// (bridged upstreams). URIs and URI templates are always as clients see
// them. Like Provider, it never decides access: the host asks the policy
// before listing, reading, subscribing or completing, with the identity in
// the context.
type ResourceProvider interface {
	// Resources returns the resources and resource templates currently
	// known.
	Resources(ctx context.Context) ([]mcp.Resource, []mcp.ResourceTemplate)
	// ReadResource reads uri for the caller in ctx. It returns ErrNotFound
	// when uri is not the provider's; the error of a failed read names the
	// problem for the log, never for the client.
	ReadResource(ctx context.Context, uri string) ([]mcp.ResourceContents, error)
	// SubscribeResource asks for updates of uri on behalf of the caller in
	// ctx: updated is called (from any goroutine, never while holding the
	// provider's locks) after each notifications/resources/updated until
	// cancel is called. ErrNotFound when uri is not the provider's.
	SubscribeResource(ctx context.Context, uri string, updated func()) (cancel func(), err error)
	// CompleteResource completes argument arg of the resource template
	// uriTemplate. ErrNotFound when the template is not the provider's.
	CompleteResource(ctx context.Context, uriTemplate string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error)
	// OnResourcesChanged registers fn, called (as Notifier's callback)
	// after the provider's resources or templates changed.
	OnResourcesChanged(fn func())
}

// PromptProvider is implemented by providers that also supply prompts
// (bridged upstreams). Prompt names follow NamePattern, like tool names.
type PromptProvider interface {
	// Prompts returns the prompts currently known.
	Prompts(ctx context.Context) []Prompt
	// CompletePrompt completes argument arg of the prompt named prompt.
	// ErrNotFound when the prompt is not the provider's.
	CompletePrompt(ctx context.Context, prompt string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error)
	// OnPromptsChanged registers fn, called (as Notifier's callback) after
	// the provider's prompts changed.
	OnPromptsChanged(fn func())
}

// ConnectRequiredError is a provider's answer to a request of a caller
// who must first connect an upstream to their account (an upstream with
// auth, and no token of the caller's): the host tells the caller where.
// For a client that declared URL-mode elicitation the provider answers
// mcp.URLElicitationRequiredError instead.
type ConnectRequiredError struct {
	// Upstream is the upstream's name.
	Upstream string
	// URL is the host's connect page for it.
	URL string
}

func (e *ConnectRequiredError) Error() string {
	return "upstream " + e.Upstream + " needs your authorization: connect at " + e.URL
}
