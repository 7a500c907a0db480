package upstream

import (
	"context"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

var _ tools.PromptProvider = (*Provider)(nil)

// bridgePrompts turns an upstream's prompts into tsmcp prompts named
// "<upstream>__<prompt>" (servedName), and returns the served names' map to the
// upstream's. Prompts whose bridged name would not match tools.NamePattern,
// duplicates, and prompts past their Bounds (an argument's name, the
// prompt's size) are skipped with a log line; titles and descriptions are
// cut to their Bounds. more says the upstream listed more prompts than
// Bounds.Items.
func (u *upstream) bridgePrompts(ps []mcp.Prompt, more bool) ([]tools.Prompt, map[string]string) {
	var out []tools.Prompt
	names := map[string]string{}
	bd := u.bounder("prompt")
	defer bd.done(more)
prompts:
	for _, p := range ps {
		name := u.servedName(p.Name)
		if p.Name == "" || !tools.NamePattern.MatchString(name) {
			u.warns.Warn("upstream prompt skipped: bridged name invalid", "prompt", safetext.Log(p.Name, 128), "bridged", safetext.Log(name, 128), "want", tools.NamePattern.String())
			continue
		}
		if _, dup := names[name]; dup {
			u.warns.Warn("upstream prompt skipped: listed twice", "prompt", p.Name)
			continue
		}
		p.Title, p.Description = bd.title(p.Title), bd.description(p.Description)
		args := make([]mcp.PromptArgument, len(p.Arguments))
		for i, a := range p.Arguments {
			if !bd.nameOK(a.Name, p.Name) {
				continue prompts
			}
			a.Title, a.Description = bd.title(a.Title), bd.description(a.Description)
			args[i] = a
		}
		if p.Arguments != nil {
			p.Arguments = args
		}
		orig := p.Name
		p.Name = name
		if !bd.sizeOK(p, orig) {
			continue
		}
		names[name] = orig
		out = append(out, tools.Prompt{Prompt: p, Handler: func(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return u.getPrompt(ctx, orig, req)
		}})
	}
	return out, names
}

// Prompts returns the bridged prompts currently known from all upstreams.
func (p *Provider) Prompts(context.Context) []tools.Prompt {
	ps, _ := p.mergePrompts(true)
	return ps
}

// CompletePrompt forwards completion/complete for a listed prompt (by its
// served name) to its upstream.
func (p *Provider) CompletePrompt(ctx context.Context, prompt string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error) {
	u, orig := p.listedBy(p.nameNamespaceOf(prompt), prompt, func(u *upstream) map[string]string { return u.feat.promptSet })
	if u == nil {
		return nil, tools.ErrNotFound
	}
	return u.complete(ctx, mcp.PromptReference{Type: "ref/prompt", Name: orig}, arg, actx)
}

// getPrompt forwards prompts/get to the caller's session (or, for a
// caller on 2026-07-28, through the lane as that session's identity),
// with the arguments as given, and rewrites the resource URIs in the
// messages.
func (u *upstream) getPrompt(ctx context.Context, prompt string, caller mcp.GetPromptRequest) (res *mcp.GetPromptResult, err error) {
	lane := u.modernFor(ctx)
	err = u.onSession(ctx, func(ctx context.Context, sess *session) error {
		if lane {
			res, err = u.getPromptModern(ctx, sess, prompt, caller)
			return err
		}
		req := mcp.GetPromptRequest{}
		req.Params.Name = prompt
		req.Params.Arguments = caller.Params.Arguments
		ctx, span := u.startSpan(ctx, "prompts/get", prompt) // trace.go
		req.Params.Meta = traceMeta(ctx, nil)
		res, err = sess.Client().GetPrompt(ctx, req)
		endSpan(span, nil, err)
		if err != nil {
			return fmt.Errorf("upstream %s: prompts/get %s: %w", u.name, prompt, err)
		}
		for i, m := range res.Messages {
			res.Messages[i].Content = u.rewriteContent(m.Content)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
