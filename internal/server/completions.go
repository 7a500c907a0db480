package server

import (
	"context"
	"errors"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// errCompletionNotFound answers a completion/complete for a prompt or
// resource template that is refused or missing: both look the same.
var errCompletionNotFound = errors.New("completion target not found")

// errCompletionFailed answers one whose upstream failed.
var errCompletionFailed = errors.New("completion failed; details are in the host's log")

// completionOptions serves completion/complete when a provider supplies
// prompts or resources: routed to the owning provider, and only for a
// prompt (by name) or resource template (by URI template, as clients see
// them) the caller may use.
func (s *Server) completionOptions() []server.ServerOption {
	if len(s.promptProviders()) == 0 && len(s.resourceProviders()) == 0 {
		return nil
	}
	c := completer{s}
	return []server.ServerOption{
		server.WithCompletions(),
		server.WithPromptCompletionProvider(c),
		server.WithResourceCompletionProvider(c),
	}
}

// completer implements mcp-go's completion providers.
type completer struct{ s *Server }

// CompletePromptArgument implements server.PromptCompletionProvider.
func (c completer) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error) {
	id, _ := identity.FromContext(ctx)
	d := c.s.policy.Load().DecidePrompt(id, prompt)
	return c.s.complete(ctx, audit.Prompt, prompt, d, func(p tools.Provider) (*mcp.Completion, error) {
		pp, ok := p.(tools.PromptProvider)
		if !ok {
			return nil, tools.ErrNotFound
		}
		return pp.CompletePrompt(ctx, prompt, arg, actx)
	})
}

// CompleteResourceArgument implements server.ResourceCompletionProvider.
func (c completer) CompleteResourceArgument(ctx context.Context, uriTemplate string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error) {
	id, _ := identity.FromContext(ctx)
	d := c.s.policy.Load().DecideResource(id, uriTemplate)
	return c.s.complete(ctx, audit.Resource, uriTemplate, d, func(p tools.Provider) (*mcp.Completion, error) {
		rp, ok := p.(tools.ResourceProvider)
		if !ok {
			return nil, tools.ErrNotFound
		}
		return rp.CompleteResource(ctx, uriTemplate, arg, actx)
	})
}

// complete runs one completion after decision d: refused and missing
// answer errCompletionNotFound alike; every completion is one audit event
// (without the argument's value).
func (s *Server) complete(ctx context.Context, kind audit.Kind, name string, d acl.Decision, ask func(tools.Provider) (*mcp.Completion, error)) (*mcp.Completion, error) {
	id, _ := identity.FromContext(ctx)
	start := time.Now()
	outcome, detail := audit.OK, ""
	defer func() {
		s.audit.Record(ctx, audit.Event{Action: audit.Completion, Caller: audit.CallerOf(id), Kind: kind, Name: name,
			Decision: decision(d), Reason: d.Reason, Duration: time.Since(start), Outcome: outcome, Err: detail})
	}()
	if id == nil || !d.Allow {
		outcome = audit.Refused
		return nil, errCompletionNotFound
	}
	for _, p := range s.providers {
		res, err := ask(p)
		switch {
		case errors.Is(err, tools.ErrNotFound):
			continue
		case err != nil:
			if answer, ok := connectAnswer(err); ok {
				outcome, detail = audit.URLRequired, err.Error()
				return nil, answer
			}
			outcome, detail = audit.Error, err.Error()
			return nil, errCompletionFailed
		}
		if err := s.holdAnswer(ctx, completionSize(res), audit.Event{Kind: kind, Name: name}); err != nil {
			outcome, detail = audit.Error, answerRefused
			return nil, err
		}
		return res, nil
	}
	outcome = audit.NotFound
	return nil, errCompletionNotFound
}
