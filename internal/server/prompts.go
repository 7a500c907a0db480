package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// errPromptFailed is what a client sees when a prompt's upstream fails;
// the details go to the audit line.
var errPromptFailed = errors.New("prompt failed; details are in the host's log")

// promptProviders returns the providers that supply prompts.
func (s *Server) promptProviders() []tools.PromptProvider {
	var pps []tools.PromptProvider
	for _, p := range s.providers {
		if pp, ok := p.(tools.PromptProvider); ok {
			pps = append(pps, pp)
		}
	}
	return pps
}

// promptOptions returns the mcp-go options and registers the hooks that
// serve prompts, when a provider supplies them. Prompts live in mcp-go's
// table; one filter, Policy.DecidePrompt, serves prompts/list and
// prompts/get, as for tools.
func (s *Server) promptOptions(hooks *server.Hooks) []server.ServerOption {
	pps := s.promptProviders()
	if len(pps) == 0 {
		return nil
	}
	hooks.AddAfterListPrompts(func(ctx context.Context, _ any, _ *mcp.ListPromptsRequest, res *mcp.ListPromptsResult) {
		shown := 0
		if res != nil {
			shown = len(res.Prompts)
		}
		s.auditFeatureList(ctx, audit.PromptsList, audit.Prompt, shown)
	})
	hooks.AddBeforeGetPrompt(s.auditDeniedPrompt)
	s.promptsDirty = make(chan struct{}, 1)
	for _, pp := range pps {
		pp.OnPromptsChanged(s.promptsChanged)
	}
	return []server.ServerOption{
		server.WithPromptCapabilities(true),
		server.WithPromptFilter(s.filterPrompts),
		server.WithPromptFilter(s.hideModernOnlyPrompts), // modernonly.go
		server.WithPromptHandlerMiddleware(s.auditPrompt),
	}
}

// collectPrompts gathers the prompts of every provider: names must match
// tools.NamePattern and be unique; a prompt breaking either is dropped
// with a log line (prompts appear at run time, so this is not fatal).
func (s *Server) collectPrompts(ctx context.Context) []tools.Prompt {
	var all []tools.Prompt
	seen := map[string]bool{}
	for _, pp := range s.promptProviders() {
		for _, p := range pp.Prompts(ctx) {
			switch {
			case !tools.NamePattern.MatchString(p.Prompt.Name):
				s.log.Warn("prompt dropped: invalid name", "prompt", bounded(p.Prompt.Name))
			case seen[p.Prompt.Name]:
				s.log.Warn("prompt dropped: name provided twice", "prompt", p.Prompt.Name)
			default:
				seen[p.Prompt.Name] = true
				all = append(all, p)
			}
		}
	}
	return all
}

// promptsChanged is the providers' callback: it asks the refresher to
// re-collect the prompts. It never blocks.
func (s *Server) promptsChanged() {
	select {
	case s.promptsDirty <- struct{}{}:
	default:
	}
}

// refreshPrompts re-collects the prompts whenever a provider reports a
// change; mcp-go then sends notifications/prompts/list_changed. It returns
// when ctx ends.
func (s *Server) refreshPrompts(ctx context.Context, m *server.MCPServer) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.promptsDirty:
		}
		ps := s.collectPrompts(ctx)
		m.SetPrompts(ps...)
		s.setPromptNames(ps)
		s.log.Info("prompts changed", "prompts", len(ps))
	}
}

// filterPrompts is the one access decision for prompts/list and
// prompts/get (where a filtered prompt is "not found", as a missing one).
func (s *Server) filterPrompts(ctx context.Context, in []mcp.Prompt) []mcp.Prompt {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return nil
	}
	policy := s.policy.Load()
	out := in[:0:0]
	for _, p := range in {
		if policy.DecidePrompt(id, p.Name).Allow {
			out = append(out, p)
		}
	}
	return out
}

// auditDeniedPrompt writes the audit line of a prompts/get that will not
// run: refused by the policy, or naming no prompt.
func (s *Server) auditDeniedPrompt(ctx context.Context, _ any, req *mcp.GetPromptRequest) {
	id, _ := identity.FromContext(ctx)
	d := s.policy.Load().DecidePrompt(id, req.Params.Name)
	if d.Allow {
		if _, ok := s.mcp.ListPrompts()[req.Params.Name]; ok {
			return
		}
		d.Reason = "no such prompt"
	}
	s.audit.Record(ctx, audit.Event{Action: audit.PromptGet, Caller: audit.CallerOf(id), Kind: audit.Prompt, Name: req.Params.Name,
		Decision: audit.Deny, Reason: d.Reason, Outcome: audit.Refused})
}

// auditPrompt wraps every prompt handler as auditCall wraps tools: in-flight
// count, the host's lifetime, a recovered panic, a generic error for the
// client, and one audit line. Arguments are never logged.
func (s *Server) auditPrompt(next server.PromptHandlerFunc) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcp.GetPromptRequest) (res *mcp.GetPromptResult, err error) {
		done := s.inflight.begin()
		defer done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(s.callCtx, cancel)()

		id, _ := identity.FromContext(ctx)
		d := s.policy.Load().DecidePrompt(id, req.Params.Name)
		if !d.Allow {
			// Unreachable while the filter runs first.
			return nil, fmt.Errorf("prompt '%s' not found: %w", req.Params.Name, server.ErrPromptNotFound)
		}
		start := time.Now()
		outcome, detail := audit.OK, ""
		ctx, creds := audit.WithCredentials(ctx)
		defer func() {
			if p := recover(); p != nil {
				outcome, detail = audit.Panic, fmt.Sprint(p)
				res, err = nil, errPromptFailed
			}
			s.audit.Record(ctx, audit.Event{Action: audit.PromptGet, Caller: audit.CallerOf(id), Kind: audit.Prompt, Name: req.Params.Name,
				Decision: audit.Allow, Reason: d.Reason, Duration: time.Since(start), Outcome: outcome, Err: detail, Credentials: creds()})
		}()
		if why, ok := s.openRetry(id, "prompt", req.Params.Name, &req.Params.MultiRoundTripParams); !ok {
			outcome, detail = audit.Refused, why
			return nil, errBadState
		}
		res, err = next(ctx, req)
		if err == nil && res != nil && res.ResultType == mcp.ResultTypeInputRequired {
			noteInputRequests(ctx, res.InputRequests) // rpcanswer.go
		}
		if err == nil && res != nil && res.RequestState != "" {
			// Sealed for the caller and this prompt (requeststate.go).
			cp := *res
			if why, ok := s.sealAnswer(id, "prompt", req.Params.Name, &cp.MultiRoundTripResult); !ok {
				outcome, detail = audit.Error, why
				return nil, errPromptFailed
			}
			res = &cp
		}
		if protocolAnswer(ctx, err) {
			// The caller lacks a capability the upstream needs
			// (rpcanswer.go).
			outcome, detail = audit.Refused, err.Error()
			err = errPromptFailed
		} else if answer, ok := connectAnswer(err); ok {
			outcome, detail = audit.URLRequired, err.Error()
			err = answer
		} else if err != nil {
			outcome, detail = audit.Error, err.Error()
			err = errPromptFailed
		} else if err = s.holdAnswer(ctx, promptResultSize(res), audit.Event{Kind: audit.Prompt, Name: req.Params.Name}); err != nil {
			outcome, detail, res = audit.Error, answerRefused, nil
		}
		if res != nil {
			// Resource URIs in the messages are decided again
			// (resulturis.go); res may be shared, so it is copied.
			if kept, changed := s.allowedMessages(ctx, id, "prompts/get "+req.Params.Name, res.Messages); changed {
				cp := *res
				cp.Messages = kept
				res = &cp
			}
		}
		return res, err
	}
}
