package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

var _ tools.ResourceProvider = (*Provider)(nil)

// featureState is what an upstream's lister last listed of its prompts,
// resources and templates, bridged (names and URIs as clients see them).
type featureState struct {
	mu        sync.Mutex // guards the fields below
	prompts   []tools.Prompt
	promptSet map[string]string // served name -> upstream's name
	resources []mcp.Resource
	templates []mcp.ResourceTemplate
	tmplSet   map[string]string // served URI template -> upstream's
	rawP      []byte            // the raw prompts, to detect changes
	rawR      []byte            // the raw resources and templates
}

// featureNotifiers are the host's callbacks for changed prompts and
// resources.
type featureNotifiers struct {
	mu        sync.Mutex // guards the fields below
	prompts   func()
	resources func()
}

// OnResourcesChanged registers fn, called (from a provider goroutine,
// without the provider's locks held) after an upstream's resources or
// resource templates changed. A later call replaces fn; nil removes it.
func (p *Provider) OnResourcesChanged(fn func()) {
	p.feat.mu.Lock()
	p.feat.resources = fn
	p.feat.mu.Unlock()
}

// OnPromptsChanged registers fn, called like OnResourcesChanged's after an
// upstream's prompts changed.
func (p *Provider) OnPromptsChanged(fn func()) {
	p.feat.mu.Lock()
	p.feat.prompts = fn
	p.feat.mu.Unlock()
}

func (p *Provider) notifyFeature(prompts bool) {
	p.feat.mu.Lock()
	fn := p.feat.resources
	if prompts {
		fn = p.feat.prompts
	}
	p.feat.mu.Unlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if fn != nil && !closed {
		fn()
	}
}

// listedFeatures takes the lister's new prompts, resources and templates,
// bridges those of each kind that changed (within the upstream's Bounds),
// and notifies the host of each kind that changed. (Only the lister's
// goroutine calls it.)
func (u *upstream) listedFeatures(s *session) {
	prompts, resources, templates, more := s.features.get()
	var modernOnlyPrompts []mcp.Prompt
	if u.modern != nil {
		s.mu.Lock()
		modernOnlyPrompts = modernOnly(prompts, s.modernPrompts, func(p mcp.Prompt) string { return p.Name })
		s.mu.Unlock()
		prompts = append(slices.Clip(prompts), modernOnlyPrompts...)
	}
	rawP, _ := json.Marshal(prompts)
	rawR, _ := json.Marshal([]any{resources, templates})
	f := &u.feat
	f.mu.Lock()
	pChanged := f.rawP == nil || !slices.Equal(rawP, f.rawP)
	rChanged := f.rawR == nil || !slices.Equal(rawR, f.rawR)
	f.mu.Unlock()
	if pChanged {
		bp, pset := u.bridgePrompts(prompts, more.prompts)
		served := map[string]bool{}
		for _, p := range modernOnlyPrompts {
			served[u.servedName(p.Name)] = true
		}
		u.setModernOnly(true, served)
		f.mu.Lock()
		f.rawP, f.prompts, f.promptSet = rawP, bp, pset
		f.mu.Unlock()
		u.log.Info("upstream prompts listed", "prompts", len(bp))
		u.p.notifyFeature(true)
	}
	if rChanged {
		br := u.bridgeResources(resources, more.resources)
		bt, tset := u.bridgeTemplates(templates, more.templates)
		f.mu.Lock()
		f.rawR, f.resources, f.templates, f.tmplSet = rawR, br, bt, tset
		f.mu.Unlock()
		u.log.Info("upstream resources listed", "resources", len(br), "templates", len(bt))
		u.p.notifyFeature(false)
	}
}

// bridgeResources rewrites an upstream's resources (uri.go) within its
// Bounds: a resource whose URI or name is too long, or that is too large,
// is dropped with a log line; titles and descriptions are cut. more says
// the upstream listed more resources than Bounds.Items.
func (u *upstream) bridgeResources(rs []mcp.Resource, more bool) []mcp.Resource {
	var out []mcp.Resource
	bd := u.bounder("resource")
	defer bd.done(more)
	for _, r := range rs {
		if !bd.uriOK(r.URI) || !bd.nameOK(r.Name, r.URI) {
			continue
		}
		r.Title, r.Description = bd.title(r.Title), bd.description(r.Description)
		r = u.rewriteResource(r)
		if !bd.sizeOK(r, r.URI) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// bridgeTemplates rewrites an upstream's resource templates (uri.go)
// within its Bounds, as bridgeResources does resources, and returns the
// served templates' map to the upstream's. A template that does not parse
// once rewritten is skipped with a log line.
func (u *upstream) bridgeTemplates(ts []mcp.ResourceTemplate, more bool) ([]mcp.ResourceTemplate, map[string]string) {
	var out []mcp.ResourceTemplate
	set := map[string]string{}
	bd := u.bounder("resource template")
	defer bd.done(more)
	for _, t := range ts {
		var raw string
		if t.URITemplate != nil && t.URITemplate.Template != nil {
			raw = t.URITemplate.Raw()
		}
		if !bd.uriOK(raw) || !bd.nameOK(t.Name, raw) {
			continue
		}
		t.Title, t.Description = bd.title(t.Title), bd.description(t.Description)
		nt, ok := u.rewriteTemplate(t)
		if !ok {
			u.warns.Warn("upstream resource template skipped: no valid template")
			continue
		}
		if !bd.sizeOK(nt, raw) {
			continue
		}
		set[nt.URITemplate.Raw()] = raw
		out = append(out, nt)
	}
	return out, set
}

// Resources returns the bridged resources and resource templates currently
// known from all upstreams, URIs as clients see them.
func (p *Provider) Resources(context.Context) ([]mcp.Resource, []mcp.ResourceTemplate) {
	rs, ts, _ := p.mergeResources(true)
	return rs, ts
}

// upstreamFor returns the upstream a URI (as clients see it) names, and the
// original URI; nil when none does. A URI in a prefixed upstream's
// namespace ("<up>+…", "ui://<up>+…") is that upstream's, when it is the
// form that upstream serves (uri.go; else it names nothing); any other
// goes to an unprefixed upstream, by the rules in unprefixed.go.
func (p *Provider) upstreamFor(uri string) (*upstream, string) {
	if name, orig, served := splitURI(uri); name != "" {
		if u := p.prefixedNamed(name); u != nil {
			if !served {
				return nil, ""
			}
			return u, orig
		}
	}
	if u := p.unprefixedFor(uri); u != nil {
		return u, uri
	}
	return nil, ""
}

// ReadResource reads any resource of an upstream, listed or not (a
// resource_link from a tool, a URI built from a template): on the shared
// child or session, or on the caller's own for per-identity upstreams. An
// upstream's error answer is tools.ErrNotFound (details in the log), as is
// a URI that names no upstream.
func (p *Provider) ReadResource(ctx context.Context, uri string) ([]mcp.ResourceContents, error) {
	u, orig := p.upstreamFor(uri)
	if u == nil {
		return nil, tools.ErrNotFound
	}
	var out []mcp.ResourceContents
	err := u.onSession(ctx, func(ctx context.Context, sess *session) error {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = orig
		ctx, span := u.startSpan(ctx, "resources/read", "") // trace.go
		req.Params.Meta = traceMeta(ctx, nil)
		res, err := sess.Client().ReadResource(ctx, req)
		endSpan(span, nil, err)
		if err != nil {
			if isRPCError(err) {
				u.log.Info("upstream refused resources/read", "uri", safetext.Log(orig, 128), errAttr(err))
				return tools.ErrNotFound
			}
			return fmt.Errorf("upstream %s: resources/read: %w", u.name, err)
		}
		out = make([]mcp.ResourceContents, 0, len(res.Contents))
		for _, c := range res.Contents {
			out = append(out, u.rewriteContents(c))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubscribeResource subscribes the caller in ctx to updates of uri: on the
// shared child or session, or on the caller's own, which then stays up
// (not reaped when idle) until cancel. It is re-established when the child
// or session restarts.
func (p *Provider) SubscribeResource(ctx context.Context, uri string, updated func()) (func(), error) {
	u, orig := p.upstreamFor(uri)
	if u == nil {
		return nil, tools.ErrNotFound
	}
	sup, release, err := u.supervisorFor(ctx)
	if err != nil {
		return nil, err
	}
	sctx, cancel := u.requestContext(ctx)
	defer cancel()
	sess, err := sup.Session(sctx)
	if err != nil {
		release()
		return nil, fmt.Errorf("upstream %s: %w", u.name, err)
	}
	sub, err := sup.subs.add(sctx, sess, orig, updated, sup.unsubscribe)
	if err != nil {
		release()
		if isRPCError(err) {
			u.log.Info("upstream refused resources/subscribe", "uri", safetext.Log(orig, 128), errAttr(err))
			return nil, tools.ErrNotFound
		}
		return nil, fmt.Errorf("upstream %s: resources/subscribe: %w", u.name, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			sup.subs.remove(orig, sub, sup.unsubscribe)
			release()
		})
	}, nil
}

// CompleteResource forwards completion/complete for a listed resource
// template (as clients see it) to its upstream.
func (p *Provider) CompleteResource(ctx context.Context, uriTemplate string, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error) {
	u, orig := p.listedBy(p.uriNamespaceOf(uriTemplate), uriTemplate, func(u *upstream) map[string]string { return u.feat.tmplSet })
	if u == nil {
		return nil, tools.ErrNotFound
	}
	return u.complete(ctx, mcp.ResourceReference{Type: "ref/resource", URI: orig}, arg, actx)
}

// supervisorFor returns the supervisor that serves the caller in ctx: the
// shared one, or the caller's own child's (started if need be), with the
// release to call once done with it.
func (u *upstream) supervisorFor(ctx context.Context) (*supervisor, func(), error) {
	if !u.perIdentity {
		return u.lister, func() {}, nil
	}
	sup, release, err := u.acquireChild(ctx)
	switch {
	case errors.Is(err, errNoIdentity):
		return nil, nil, fmt.Errorf("upstream %s needs an identified caller", u.name)
	case errors.Is(err, errTooMany):
		return nil, nil, errors.New(u.describeTooMany())
	case err != nil:
		if msg, ok := u.secretRefusal(ctx, "request", err); ok {
			return nil, nil, errors.New(msg)
		}
		return nil, nil, fmt.Errorf("upstream %s: %w", u.name, err)
	}
	u.recordSecrets(ctx)
	return sup, release, nil
}

// complete forwards one completion/complete to the caller's session.
func (u *upstream) complete(ctx context.Context, ref any, arg mcp.CompleteArgument, actx mcp.CompleteContext) (*mcp.Completion, error) {
	var out *mcp.Completion
	err := u.onSession(ctx, func(ctx context.Context, sess *session) error {
		req := mcp.CompleteRequest{}
		req.Params.Ref = ref
		req.Params.Argument = arg
		req.Params.Context = actx
		res, err := sess.Client().Complete(ctx, req)
		if err != nil {
			return fmt.Errorf("upstream %s: completion/complete: %w", u.name, err)
		}
		out = &res.Completion
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// onSession runs f with the session that serves the caller in ctx (the
// shared one, or the caller's own child's, held until f returns), under
// the upstream's request deadline. Errors reaching the session name the
// upstream.
func (u *upstream) onSession(ctx context.Context, f func(context.Context, *session) error) error {
	sup, release, err := u.supervisorFor(ctx)
	if err != nil {
		if cerr := u.connectError(ctx, err, nil); cerr != nil {
			return cerr
		}
		return err
	}
	defer release()
	ctx, cancel := u.requestContext(ctx)
	defer cancel()
	sess, err := sup.Session(ctx)
	if err == nil {
		err = f(ctx, sess)
	} else {
		err = fmt.Errorf("upstream %s: %w", u.name, err)
	}
	if err != nil {
		if cerr := u.connectError(ctx, err, sup); cerr != nil {
			return cerr
		}
	}
	return err
}
