package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// Separator between the upstream's name and its tool's name.
const nameSep = "__"

// servedName is the name clients see for the upstream's tool or prompt
// orig: "<upstream>__<orig>", or orig itself when the upstream is not
// prefixed.
func (u *upstream) servedName(orig string) string {
	if u.unprefixed {
		return orig
	}
	return u.name + nameSep + orig
}

// wireTool is the part of an upstream's tool definition that is decoded;
// the schemas stay raw so they reach clients byte for byte.
type wireTool struct {
	Name         string              `json:"name"`
	Title        string              `json:"title"`
	Description  string              `json:"description"`
	InputSchema  json.RawMessage     `json:"inputSchema"`
	OutputSchema json.RawMessage     `json:"outputSchema"`
	Annotations  *mcp.ToolAnnotation `json:"annotations"`
	Meta         *mcp.Meta           `json:"_meta"`
	Icons        []mcp.Icon          `json:"icons"`
	Execution    *mcp.ToolExecution  `json:"execution"`
}

// bridge turns an upstream's raw tool list into tsmcp tools named
// "<upstream>__<tool>" (servedName). Tools that cannot be bridged (undecodable, a name
// that would not match tools.NamePattern, a schema that is not an object, a
// duplicate, larger than Bounds.ItemBytes, naming an MCP Apps UI resource
// whose URI is over Bounds.URIBytes) are skipped with a log line;
// titles and descriptions are cut to their Bounds. more says the upstream
// listed more tools than Bounds.Items.
func (u *upstream) bridge(raws []json.RawMessage, more bool) []tools.Tool {
	var out []tools.Tool
	seen := map[string]bool{}
	bd := u.bounder("tool")
	defer bd.done(more)
	for _, raw := range raws {
		var w wireTool
		if err := json.Unmarshal(raw, &w); err != nil {
			u.warns.Warn("upstream tool skipped: undecodable definition", errAttr(err))
			continue
		}
		name := u.servedName(w.Name)
		if !tools.NamePattern.MatchString(name) || w.Name == "" {
			u.warns.Warn("upstream tool skipped: bridged name invalid", "tool", safetext.Log(w.Name, 128), "bridged", safetext.Log(name, 128), "want", tools.NamePattern.String())
			continue
		}
		if seen[name] {
			u.warns.Warn("upstream tool skipped: listed twice", "tool", w.Name)
			continue
		}
		schema := w.InputSchema
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		if !isJSONObject(schema) {
			u.warns.Warn("upstream tool skipped: inputSchema is not an object", "tool", w.Name)
			continue
		}
		t := mcp.NewToolWithRawSchema(name, bd.description(w.Description), schema)
		t.Title = bd.title(w.Title)
		if isJSONObject(w.OutputSchema) {
			t.RawOutputSchema = w.OutputSchema
		}
		if w.Annotations != nil {
			t.Annotations = *w.Annotations
			t.Annotations.Title = bd.title(t.Annotations.Title)
		}
		meta, uiURIs := u.rewriteToolMeta(w.Meta) // apps.go
		if !bd.urisOK(uiURIs) {
			continue
		}
		t.Meta = meta
		t.Icons = w.Icons
		t.Execution = w.Execution // task support; calls as tasks: tasks.go
		if !bd.sizeOK(t, w.Name) {
			continue
		}
		seen[name] = true
		out = append(out, tools.Tool{Tool: t, Handler: u.handler(w.Name)})
	}
	return out
}

func isJSONObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return strings.HasPrefix(s, "{") && json.Valid(raw)
}

// handler forwards a call of the upstream tool named tool.
func (u *upstream) handler(tool string) func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return u.call(ctx, tool, req)
	}
}

// call forwards one call: to the shared session, or to the caller's own
// child. Every failure becomes a tool error with generic text; details go
// to the log; but the upstream's URLElicitationRequiredError reaches a
// caller on a session as that error (urlelicit.go). A caller on the
// stateless protocol may be asked for input (see callStateless).
func (u *upstream) call(ctx context.Context, tool string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	lane := u.modernFor(ctx)
	if req.Params.RequestState != "" && !lane {
		return u.resume(ctx, tool, req), nil
	}
	sup := u.lister
	release := func() {}
	if u.perIdentity {
		s, rel, err := u.acquireChild(ctx)
		if are := authRequired(err, nil); are != nil {
			res, urlErr := u.connectRequired(ctx, tool, are)
			if urlErr != nil {
				return nil, *urlErr
			}
			return res, nil
		}
		switch {
		case errors.Is(err, errNoIdentity):
			u.log.Warn("upstream call refused: no caller identity", "tool", tool)
			return mcp.NewToolResultError("upstream " + u.name + " needs an identified caller"), nil
		case errors.Is(err, errTooMany):
			u.log.Warn("upstream call refused: per-identity limit reached", "tool", tool, "limit", u.p.opts.MaxPerIdentity)
			return mcp.NewToolResultError(u.describeTooMany()), nil
		case err != nil:
			if msg, ok := u.secretRefusal(ctx, "tools/call "+tool, err); ok {
				return mcp.NewToolResultError(msg), nil
			}
			return u.unavailable(tool, err), nil
		}
		release, sup = rel, s
		u.recordSecrets(ctx)
	}
	if lane {
		defer release()
		return u.callModern(ctx, sup, tool, req)
	}
	if server.IsModernRequest(ctx) {
		return u.callStateless(ctx, sup, release, tool, req), nil
	}
	defer release()
	res, urlErr := u.run(ctx, &callerRef{ctx: ctx}, sup, tool, req, nil)
	if urlErr != nil {
		return nil, *urlErr
	}
	return res, nil
}

// run forwards the call on sup's session. ctx bounds the call; caller
// holds the context of the caller's current request, to send progress,
// log messages and requests to; asks (nil for callers on a session) takes
// the upstream's requests for a stateless caller. When the upstream
// refuses the call with URLElicitationRequiredError, urlErr is that error
// (bounded) and res the tool error for callers that cannot take it.
func (u *upstream) run(ctx context.Context, caller *callerRef, sup *supervisor, tool string, req mcp.CallToolRequest, asks chan *inputAsk) (res *mcp.CallToolResult, urlErr *mcp.URLElicitationRequiredError) {
	ctx, clock, stop := u.callClock(ctx)
	defer stop()
	sess, err := sup.Session(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return u.ended(ctx, tool), nil
		}
		if are := authRequired(err, sup); are != nil {
			return u.connectRequired(ctx, tool, are)
		}
		return u.unavailable(tool, err), nil
	}
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	f := newFlight(caller, token, clock)
	f.asks, f.ended, f.inputWait = asks, ctx.Done(), u.p.opts.InputWait
	defer sess.routes.add(f)()
	// A call in flight when the session dies ends now, not at its timeout.
	callCtx, stop := context.WithCancel(context.WithValue(ctx, flightKey{}, f))
	defer stop()
	unhook := context.AfterFunc(sess.Context(), stop)
	defer unhook()

	fwd := mcp.CallToolRequest{}
	fwd.Params.Name = tool
	fwd.Params.Arguments = req.Params.Arguments
	fwd.Params.RawArguments = req.Params.RawArguments
	if bytes.Equal(bytes.TrimSpace(fwd.Params.RawArguments), []byte("null")) {
		// "arguments": null means none; strict servers (the TypeScript
		// SDK's) refuse null, so send none.
		fwd.Params.Arguments, fwd.Params.RawArguments = nil, nil
	}
	// Always a token of our own: the progress it brings renews the
	// deadline even when the caller asked for none.
	fwd.Params.Meta = &mcp.Meta{ProgressToken: f.upToken}
	callCtx, span := u.startSpan(callCtx, "tools/call", tool) // trace.go
	fwd.Params.Meta = traceMeta(callCtx, fwd.Params.Meta)
	res, err = sess.Client().CallTool(callCtx, fwd)
	endSpan(span, res, err)
	if err == nil {
		if res == nil {
			return u.unavailable(tool, errors.New("empty result")), nil
		}
		return u.rewriteToolResult(res), nil
	}
	if are := authRequired(err, nil); are != nil && u.auth != nil && sess.perIdentity {
		// The caller's token stopped working (revoked, refused): the
		// session is no use until the caller connects again.
		sup.authErr.Store(are)
		sup.Stop()
		return u.connectRequired(ctx, tool, are)
	}
	select {
	case <-sess.Context().Done():
		return u.unavailable(tool, errors.New(sess.Reason())), nil
	default:
	}
	switch {
	case ctx.Err() != nil:
		return u.ended(ctx, tool), nil
	case isRPCError(err):
		if ur, ok := u.urlRequired(err); ok {
			u.log.Info("upstream asks the caller to open a URL", "tool", tool, "urls", len(ur.Elicitations))
			for _, p := range ur.Elicitations {
				sess.elicits.recordID(p.ElicitationID, caller.get())
			}
			return u.urlRequiredResult(ur), &ur
		}
		u.log.Warn("upstream returned an error", "tool", tool, errAttr(err))
		return mcp.NewToolResultError("upstream " + u.name + " returned an error"), nil
	case u.remote != nil:
		// A transport error on a remote session: start over.
		sess.Fail(err.Error())
	}
	return u.unavailable(tool, err), nil
}

// callClock returns ctx ended, with cause errCallTimeout, once the
// upstream has been silent for the call's timeout, and the clock (nil
// without a timeout: no limit) that progress renews; stop releases both.
func (u *upstream) callClock(ctx context.Context) (_ context.Context, clock *deadline, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if u.timeout <= 0 {
		return ctx, nil, func() { cancel(nil) }
	}
	clock = newDeadline(u.timeout, func() { cancel(errCallTimeout) })
	return ctx, clock, func() {
		clock.stop()
		cancel(nil)
	}
}

// ended is the tool error of a call whose context ended: the call's
// timeout, or the caller's cancellation.
func (u *upstream) ended(ctx context.Context, tool string) *mcp.CallToolResult {
	return u.endedBy(context.Cause(ctx), tool)
}

// endedBy is ended for a call whose context ended with cause.
func (u *upstream) endedBy(cause error, tool string) *mcp.CallToolResult {
	if errors.Is(cause, errCallTimeout) {
		u.log.Warn("upstream call timed out", "tool", tool, "timeout", u.timeout.String())
		return mcp.NewToolResultError("upstream " + u.name + " timed out")
	}
	u.log.Info("upstream call cancelled by the caller", "tool", tool)
	return mcp.NewToolResultError("upstream " + u.name + " call was cancelled")
}

func (u *upstream) unavailable(tool string, err error) *mcp.CallToolResult {
	u.log.Warn("upstream call failed: unavailable", "tool", tool, errAttr(err))
	return mcp.NewToolResultError("upstream " + u.name + " is unavailable")
}

// isRPCError reports whether err came from the server's answer (a
// JSON-RPC error, an undecodable result) rather than from the transport,
// whose failures mcp-go's client wraps in *transport.Error.
func isRPCError(err error) bool {
	var te *transport.Error
	return !errors.As(err, &te) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
