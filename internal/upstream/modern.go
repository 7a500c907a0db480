package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/safetext"
	"github.com/tsmcp/tsmcp/internal/tools"
	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// The 2026-07-28 lane (upstreams[].protocol: auto). The bridge's session
// with an upstream is of 2025-11-25; a caller on the stateless protocol
// (2026-07-28) is served over it with the host's conversions (mrtr.go).
// An upstream that speaks 2026-07-28 itself may serve such callers
// differently: their capabilities and log level come with each request,
// it may ask for input with an input_required result of its own, and it
// may list more (tools that only make sense in that era). So for an
// upstream with protocol: auto whose server/discover lists 2026-07-28:
//
//   - its tools/list and prompts/list are also asked in 2026-07-28, and
//     what only that era lists is served to callers on 2026-07-28 only
//     (ModernOnly; the host hides it from session callers);
//   - a 2026-07-28 caller's tools/call and prompts/get go to the upstream
//     as a 2026-07-28 request carrying the caller's own _meta (protocol
//     version, the capabilities the bridge relays, client info, log
//     level), on a request of its own: the progress and log messages on
//     its response are this call's, exactly;
//   - the upstream's input_required result reaches the caller as it is
//     (the host seals its requestState for the caller and the request,
//     see internal/server/requeststate.go), and the caller's retry goes
//     back with its answers and the upstream's own state.

// maxModernMessage bounds one message of a 2026-07-28 response (a
// result, a notification).
const maxModernMessage = 32 << 20

// modernLane is the 2026-07-28 lane of an upstream with protocol: auto.
// Its requests go as a session of the upstream's goes (session.modern):
// the lister's for its own listing, the caller's for a caller's request
// (per-identity: that caller's headers and secrets; with auth, the
// caller's token).
type modernLane struct {
	// on is set while the upstream's last server/discover listed
	// 2026-07-28.
	on atomic.Bool

	mu      sync.Mutex      // guards the fields below
	tools   map[string]bool // served names of the tools only that era lists
	prompts map[string]bool // and of such prompts
}

// modernFor reports whether ctx's request goes through u's 2026-07-28
// lane: a caller on 2026-07-28 and an upstream that speaks it.
func (u *upstream) modernFor(ctx context.Context) bool {
	return u.modern != nil && u.modern.on.Load() && server.IsModernRequest(ctx)
}

// hostMeta is the _meta of the bridge's own 2026-07-28 requests (server/
// discover, lists): no capabilities.
func hostMeta() map[string]any {
	return map[string]any{
		mcp.MetaKeyProtocolVersion:    conn.ModernVersion,
		mcp.MetaKeyClientCapabilities: map[string]any{},
		mcp.MetaKeyClientInfo:         conn.ClientInfo,
	}
}

// relayedCapabilities are the caller's capabilities the bridge can carry
// to the upstream: the upstream's input requests reach the caller as they
// are, so elicitation, sampling and roots; nothing else (the Tasks
// extension, experimental ones), which the bridge would have to serve
// itself.
func relayedCapabilities(c *mcp.ClientCapabilities) mcp.ClientCapabilities {
	if c == nil {
		return mcp.ClientCapabilities{}
	}
	return mcp.ClientCapabilities{Roots: c.Roots, Sampling: c.Sampling, Elicitation: c.Elicitation}
}

// callerMeta is the _meta of a caller's request sent through the lane:
// the caller's own, as the bridge relays it, with upToken as the
// progress token and the trace context of ctx.
func callerMeta(ctx context.Context, upToken string) *mcp.Meta {
	meta := &mcp.Meta{ProgressToken: upToken, AdditionalFields: map[string]any{
		mcp.MetaKeyProtocolVersion: conn.ModernVersion,
	}}
	info := server.RequestProtocolInfoFromContext(ctx)
	var caps *mcp.ClientCapabilities
	if info != nil {
		caps = info.ClientCapabilities
		if info.ClientInfo != nil {
			meta.AdditionalFields[mcp.MetaKeyClientInfo] = info.ClientInfo
		}
		if info.LogLevel != "" {
			meta.AdditionalFields[mcp.MetaKeyLogLevel] = info.LogLevel
		}
	}
	meta.AdditionalFields[mcp.MetaKeyClientCapabilities] = relayedCapabilities(caps)
	return traceMeta(ctx, meta)
}

// listModern asks the upstream's server/discover whether it speaks
// 2026-07-28 and, when it does, its tools and prompts in that era (every
// page, up to maxItems of each), kept on sess for listed. A failure is
// logged and leaves the lane off: session callers are not affected.
func (u *upstream) listModern(ctx context.Context, sess *session) {
	was := u.modern.on.Load()
	tools, prompts, err := u.askModern(ctx, sess.modern)
	on := err == nil
	if err != nil && !errors.Is(err, errNotModern) {
		u.log.Warn("upstream 2026-07-28 listing failed; its callers on 2026-07-28 are served over the session", errAttr(err))
	}
	if on != was {
		u.log.Info("upstream 2026-07-28 lane", "on", on)
	}
	sess.mu.Lock()
	sess.modernTools, sess.modernPrompts = tools, prompts
	sess.mu.Unlock()
	u.modern.on.Store(on)
}

// errNotModern: the upstream's server/discover does not list 2026-07-28.
var errNotModern = errors.New("the upstream does not speak 2026-07-28")

func (u *upstream) askModern(ctx context.Context, client *conn.Modern) (tools []json.RawMessage, prompts []mcp.Prompt, err error) {
	if client == nil {
		return nil, nil, errNotModern
	}
	raw, err := client.Do(ctx, string(mcp.MethodServerDiscover), modernParams(nil), nil)
	if err != nil {
		var re *conn.RPCError
		if errors.As(err, &re) {
			return nil, nil, errNotModern // no server/discover: a session-era server
		}
		return nil, nil, err
	}
	var disc struct {
		SupportedVersions []string                `json:"supportedVersions"`
		Capabilities      *mcp.ServerCapabilities `json:"capabilities"`
	}
	if err := json.Unmarshal(raw, &disc); err != nil || disc.Capabilities == nil {
		return nil, nil, fmt.Errorf("server/discover: undecodable result")
	}
	if !slices.Contains(disc.SupportedVersions, conn.ModernVersion) {
		return nil, nil, errNotModern
	}
	maxItems := u.p.opts.Bounds.Items
	if disc.Capabilities.Tools != nil {
		if tools, _, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]json.RawMessage, mcp.Cursor, error) {
			var page struct {
				Tools      []json.RawMessage `json:"tools"`
				NextCursor mcp.Cursor        `json:"nextCursor"`
			}
			err := modernList(ctx, client, string(mcp.MethodToolsList), c, &page)
			return page.Tools, page.NextCursor, err
		}); err != nil {
			return nil, nil, fmt.Errorf("tools/list: %w", err)
		}
	}
	if disc.Capabilities.Prompts != nil {
		if prompts, _, err = listPages(ctx, maxItems, func(c mcp.Cursor) ([]mcp.Prompt, mcp.Cursor, error) {
			var page struct {
				Prompts    []mcp.Prompt `json:"prompts"`
				NextCursor mcp.Cursor   `json:"nextCursor"`
			}
			err := modernList(ctx, client, string(mcp.MethodPromptsList), c, &page)
			return page.Prompts, page.NextCursor, err
		}); err != nil {
			return nil, nil, fmt.Errorf("prompts/list: %w", err)
		}
	}
	return tools, prompts, nil
}

// modernList asks one page of a list in 2026-07-28 into page.
func modernList(ctx context.Context, client *conn.Modern, method string, cursor mcp.Cursor, page any) error {
	p := map[string]any{}
	if cursor != "" {
		p["cursor"] = cursor
	}
	raw, err := client.Do(ctx, method, modernParams(p), nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, page)
}

// modernParams returns p (nil: none) with the host's _meta, encoded.
func modernParams(p map[string]any) json.RawMessage {
	if p == nil {
		p = map[string]any{}
	}
	p["_meta"] = hostMeta()
	b, _ := json.Marshal(p)
	return b
}

// modernOnly returns the items of the 2026-07-28 listing (modern) whose
// names (by name) the session's listing does not have, each name once.
func modernOnly[T any](session []T, modern []T, name func(T) string) []T {
	have := map[string]bool{}
	for _, t := range session {
		have[name(t)] = true
	}
	var out []T
	for _, t := range modern {
		if n := name(t); n != "" && !have[n] {
			have[n] = true
			out = append(out, t)
		}
	}
	return out
}

// rawToolName is the name of a raw tool ("" when it has none).
func rawToolName(raw json.RawMessage) string {
	var t struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &t)
	return t.Name
}

// setModernOnly records the served names of the tools (or prompts) only
// the 2026-07-28 listing has.
func (u *upstream) setModernOnly(prompts bool, served map[string]bool) {
	if u.modern == nil {
		return
	}
	u.modern.mu.Lock()
	defer u.modern.mu.Unlock()
	if prompts {
		u.modern.prompts = served
	} else {
		u.modern.tools = served
	}
}

// ModernOnly reports whether the bridged tool (or prompt) clients know as
// name is listed by its upstream only in 2026-07-28: the host serves it
// to callers on that protocol only.
func (p *Provider) ModernOnly(kind tools.Kind, name string) bool {
	for _, u := range p.ups {
		if u.modern == nil {
			continue
		}
		u.modern.mu.Lock()
		only := kind == tools.KindTool && u.modern.tools[name] || kind == tools.KindPrompt && u.modern.prompts[name]
		u.modern.mu.Unlock()
		if only {
			return true
		}
	}
	return false
}

// callModern forwards a 2026-07-28 caller's tools/call through the lane,
// as the session of sup (the shared one, or the caller's own) sends.
func (u *upstream) callModern(ctx context.Context, sup *supervisor, tool string, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	sess, err := sup.Session(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return u.ended(ctx, tool), nil
		}
		if are := authRequired(err, sup); are != nil {
			res, _ := u.connectRequired(ctx, tool, are)
			return res, nil
		}
		return u.unavailable(tool, err), nil
	}
	params := map[string]any{"name": tool}
	switch {
	case len(req.Params.RawArguments) > 0 && string(req.Params.RawArguments) != "null":
		params["arguments"] = req.Params.RawArguments
	case req.Params.Arguments != nil:
		params["arguments"] = req.Params.Arguments
	}
	var res *mcp.CallToolResult
	err = u.viaModern(ctx, sess, "tools/call", tool, req.Params.Meta, req.Params.MultiRoundTripParams, params, func(raw json.RawMessage) (err error) {
		res, err = mcp.ParseCallToolResult(&raw)
		return err
	})
	var mc *tools.MissingCapabilityError
	switch {
	case err == nil:
		return u.rewriteToolResult(res), nil
	case errors.Is(err, errModernEnded):
		return u.endedBy(err, tool), nil
	case errors.Is(err, errModernRPC):
		return mcp.NewToolResultError("upstream " + u.name + " returned an error"), nil
	case errors.As(err, &mc):
		return nil, err
	}
	if are := authRequired(err, nil); are != nil && u.auth != nil && sess.perIdentity {
		// The caller's token stopped working (revoked, refused): as
		// on the session (run).
		sup.authErr.Store(are)
		sup.Stop()
		res, _ := u.connectRequired(ctx, tool, are)
		return res, nil
	}
	return u.unavailable(tool, err), nil
}

// getPromptModern forwards a 2026-07-28 caller's prompts/get through the
// lane, as sess sends.
func (u *upstream) getPromptModern(ctx context.Context, sess *session, prompt string, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	params := map[string]any{"name": prompt}
	if req.Params.Arguments != nil {
		params["arguments"] = req.Params.Arguments
	}
	var res *mcp.GetPromptResult
	err := u.viaModern(ctx, sess, "prompts/get", prompt, req.Params.Meta, req.Params.MultiRoundTripParams, params, func(raw json.RawMessage) (err error) {
		res, err = mcp.ParseGetPromptResult(&raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("upstream %s: prompts/get %s: %w", u.name, prompt, err)
	}
	for i, m := range res.Messages {
		res.Messages[i].Content = u.rewriteContent(m.Content)
	}
	return res, nil
}

var (
	// errModernEnded: the caller went away or the call timed out (the
	// error wraps the cause too).
	errModernEnded = errors.New("the request ended")
	// errModernRPC: the upstream answered with a JSON-RPC error (logged).
	errModernRPC = errors.New("the upstream answered with an error")
)

// viaModern sends method for target (a tool's or prompt's name upstream)
// as sess sends, with params, the caller's multi round-trip answers and the caller's
// _meta, through the lane, and decodes the result with decode. Progress
// (under the caller's token, renewing the call's clock) and log messages
// on the response go to the caller; other notifications are dropped.
func (u *upstream) viaModern(ctx context.Context, sess *session, method, target string, meta *mcp.Meta, mrt mcp.MultiRoundTripParams, params map[string]any, decode func(json.RawMessage) error) error {
	if sess.modern == nil {
		return errors.New("the session has no 2026-07-28 lane")
	}
	ctx, clock, stop := u.callClock(ctx)
	defer stop()
	var token mcp.ProgressToken
	if meta != nil {
		token = meta.ProgressToken
	}
	f := newFlight(&callerRef{ctx: ctx}, token, clock)
	if len(mrt.InputResponses) > 0 {
		params["inputResponses"] = mrt.InputResponses
	}
	if mrt.RequestState != "" {
		params["requestState"] = mrt.RequestState
	}
	ctx, span := u.startSpan(ctx, method, target) // trace.go
	params["_meta"] = callerMeta(ctx, f.upToken)
	body, err := json.Marshal(params)
	if err != nil {
		endSpan(span, nil, err)
		return err
	}
	raw, err := sess.modern.Do(ctx, method, body, func(m string, p json.RawMessage) { f.modernNotification(m, p) })
	if err == nil {
		err = decode(raw)
	}
	endSpan(span, nil, err)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", errModernEnded, context.Cause(ctx))
	}
	var re *conn.RPCError
	if errors.As(err, &re) {
		if re.Code == mcp.MISSING_REQUIRED_CLIENT_CAPABILITY {
			return missingCapability(re)
		}
		u.log.Warn("upstream returned an error", "method", method, "target", safetext.Log(target, 128), "code", re.Code,
			"message", safetext.Log(re.Message, 256))
		return errModernRPC
	}
	return err
}

// missingCapability is the caller's answer to the upstream's
// MissingRequiredClientCapabilityError: the capabilities it names (only
// those the protocol defines; an undecodable list names none).
func missingCapability(re *conn.RPCError) *tools.MissingCapabilityError {
	var data struct {
		Required mcp.ClientCapabilities `json:"requiredCapabilities"`
	}
	_ = json.Unmarshal(re.Data, &data)
	return &tools.MissingCapabilityError{Required: relayedCapabilities(&data.Required)}
}

// modernNotification takes one notification on the response of f's
// 2026-07-28 request.
func (f *flight) modernNotification(method string, params json.RawMessage) {
	switch method {
	case string(mcp.MethodNotificationProgress):
		var p map[string]any
		if json.Unmarshal(params, &p) == nil {
			f.progress(p)
		}
	case string(mcp.MethodNotificationMessage):
		var n struct {
			Level  mcp.LoggingLevel `json:"level"`
			Logger string           `json:"logger"`
			Data   any              `json:"data"`
		}
		if json.Unmarshal(params, &n) == nil {
			f.log(mcp.NewLoggingMessageNotification(n.Level, n.Logger, n.Data))
		}
	}
}
