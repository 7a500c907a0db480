package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Input round trips for callers on the stateless protocol (2026-07-28):
// they cannot be sent requests, so an upstream's elicitation or sampling
// request ends the caller's tools/call with an input_required result that
// carries it (mcp-go's multi round-trip requests) and an opaque
// requestState. The upstream call runs on meanwhile, its request pending;
// the caller retries the tools/call with its answer and the state, and
// the answer goes upstream. The state is random, good for one answer, only
// from the identity that made the call, for at most Options.InputWait;
// then the upstream's request is refused and the call is cancelled.

const (
	// maxWaiting bounds the calls waiting for a stateless caller's answer,
	// per provider; beyond it the upstream's request is refused.
	maxWaiting = 1024
	// maxWaitingPerIdentity bounds them per caller identity, so that one
	// identity's unanswered round trips never use up the room of others.
	maxWaitingPerIdentity = 16
	// inputID names the one input request of an input_required result.
	inputID = "upstream-request"
)

// inputAsk is an upstream's request to a stateless caller.
type inputAsk struct {
	method string
	params json.RawMessage
	answer chan json.RawMessage // gets the answer (buffered); closed: none
}

// ask hands the upstream's request to the call's handler (see drive) and
// waits for the caller's answer.
func (f *flight) ask(ctx context.Context, method string, params json.RawMessage) (any, error) {
	a := &inputAsk{method: method, params: params, answer: make(chan json.RawMessage, 1)}
	select {
	case f.asks <- a:
	case <-f.ended:
		return nil, errors.New("the call ended")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r, ok := <-a.answer:
		if !ok {
			return nil, errors.New("the caller gave no answer")
		}
		return r, nil
	case <-f.ended:
		return nil, errors.New("the call ended")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// askStateless asks f's caller, on the stateless protocol, the
// upstream's request (method, params) with an input_required result, if
// the caller declared the capability it needs in the request it is
// waiting on, and returns the answer: for roots/list a
// *mcp.ListRootsResult, else the answer as the caller sent it.
func (f *flight) askStateless(ctx context.Context, method string, params json.RawMessage) (any, error) {
	var caps *mcp.ClientCapabilities
	if info := server.RequestProtocolInfoFromContext(f.caller()); info != nil {
		caps = info.ClientCapabilities
	}
	if caps == nil {
		caps = &mcp.ClientCapabilities{}
	}
	switch {
	case method == string(mcp.MethodListRoots) && caps.Roots == nil:
		return nil, errors.New("the caller did not declare roots")
	case method == string(mcp.MethodElicitationCreate) && caps.Elicitation == nil:
		return nil, errors.New("the caller did not declare elicitation")
	case method == string(mcp.MethodSamplingCreateMessage) && caps.Sampling == nil:
		return nil, errors.New("the caller did not declare sampling")
	}
	answer, err := f.ask(ctx, method, params)
	if err != nil || method != string(mcp.MethodListRoots) {
		return answer, err
	}
	raw, _ := answer.(json.RawMessage)
	var lr mcp.ListRootsResult
	if err := json.Unmarshal(raw, &lr); err != nil {
		return nil, fmt.Errorf("the caller's answer is not a roots list: %w", err)
	}
	return &lr, nil
}

// statelessCall is a stateless caller's call, which may span several
// tools/call round trips.
type statelessCall struct {
	tool   string
	caller string // identity key of the caller
	ref    *callerRef
	asks   chan *inputAsk
	done   chan *mcp.CallToolResult // the call's result (buffered)
	cancel context.CancelFunc       // ends the upstream call

	// Set while the call waits for the caller's answer.
	pending *inputAsk
	timer   *time.Timer
}

// callStateless runs the call in the background, so that it can outlive
// this round trip, and drives it.
func (u *upstream) callStateless(ctx context.Context, sup *supervisor, release func(), tool string, req mcp.CallToolRequest) *mcp.CallToolResult {
	c := &statelessCall{tool: tool, ref: &callerRef{ctx: ctx}, asks: make(chan *inputAsk),
		done: make(chan *mcp.CallToolResult, 1)}
	if id, ok := identity.FromContext(ctx); ok {
		c.caller = callerKey(id)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	stop := context.AfterFunc(u.p.ctx, cancel)
	u.p.goFunc(func() {
		defer release()
		defer stop()
		defer cancel()
		res, _ := u.run(bg, c.ref, sup, tool, req, c.asks)
		c.done <- res
	})
	return u.drive(ctx, c)
}

// drive serves one round trip of c: its result, the upstream's next
// request as an input_required result, or (when the caller goes away) the
// call's cancellation.
func (u *upstream) drive(ctx context.Context, c *statelessCall) *mcp.CallToolResult {
	c.ref.set(ctx)
	for {
		select {
		case res := <-c.done:
			return res
		case a := <-c.asks:
			if res := u.askCaller(c, a); res != nil {
				return res
			}
		case <-ctx.Done():
			c.cancel()
			return <-c.done
		}
	}
}

// askCaller parks c until the caller answers a and returns the
// input_required result that asks it; nil (with a refused) when it cannot.
func (u *upstream) askCaller(c *statelessCall, a *inputAsk) *mcp.CallToolResult {
	b := server.NewInputRequestBuilder(newState())
	switch a.method {
	case string(mcp.MethodListRoots):
		b.Roots(inputID)
	case string(mcp.MethodElicitationCreate):
		var p mcp.ElicitationParams
		if err := json.Unmarshal(a.params, &p); err != nil {
			u.log.Warn("upstream request refused: undecodable", "method", a.method, "err", err)
			close(a.answer)
			return nil
		}
		b.Elicit(inputID, p)
	default:
		var p mcp.CreateMessageParams
		if err := json.Unmarshal(a.params, &p); err != nil {
			u.log.Warn("upstream request refused: undecodable", "method", a.method, "err", err)
			close(a.answer)
			return nil
		}
		b.Sample(inputID, p)
	}
	res := b.ToolResult()
	state := res.RequestState
	c.pending = a
	if !u.p.waiting.put(state, c) {
		u.log.Warn("upstream request refused: too many calls wait for their callers' input", "method", a.method,
			"limit", maxWaiting, "limit_per_identity", maxWaitingPerIdentity)
		close(a.answer)
		return nil
	}
	wait := u.p.opts.InputWait
	c.timer = time.AfterFunc(wait, func() {
		if u.p.waiting.take(state, func(*statelessCall) bool { return true }) != nil {
			u.log.Warn("upstream request refused: the caller did not answer in time", "method", a.method, "wait", wait.String())
			close(a.answer)
			c.cancel()
		}
	})
	return res
}

// resume takes a stateless caller's answer (a retried tools/call with
// requestState) to the upstream and drives the call on.
func (u *upstream) resume(ctx context.Context, tool string, req mcp.CallToolRequest) *mcp.CallToolResult {
	id, ok := identity.FromContext(ctx)
	c := u.p.waiting.take(req.Params.RequestState, func(c *statelessCall) bool {
		return ok && c.tool == tool && c.caller == callerKey(id)
	})
	if c == nil {
		u.log.Warn("upstream call refused: unknown, expired or another caller's requestState", "tool", tool)
		return mcp.NewToolResultError("upstream " + u.name + ": the request this answers is unknown or has expired")
	}
	c.timer.Stop()
	a := c.pending
	c.pending = nil
	r, ok := req.Params.InputResponses[inputID]
	raw, err := json.Marshal(r)
	if !ok || err != nil || string(raw) == "null" {
		close(a.answer)
	} else {
		a.answer <- raw
	}
	return u.drive(ctx, c)
}

// newState returns a random requestState.
func newState() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitingCalls are the stateless calls waiting for their callers' answers,
// by requestState. Each is one call's own: a parked call holds only its own
// upstream request, never another caller's (see attribution.go).
type waitingCalls struct {
	mu       sync.Mutex // guards the fields below
	calls    map[string]*statelessCall
	byCaller map[string]int // calls waiting per caller identity key
}

// put records c under state; false when too many calls wait, in all or of
// c's caller.
func (w *waitingCalls) put(state string, c *statelessCall) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls == nil {
		w.calls = map[string]*statelessCall{}
		w.byCaller = map[string]int{}
	}
	if len(w.calls) >= maxWaiting || w.byCaller[c.caller] >= maxWaitingPerIdentity {
		return false
	}
	w.calls[state] = c
	w.byCaller[c.caller]++
	return true
}

// take removes and returns the call under state if ok accepts it; a call
// ok refuses stays (another caller cannot spend someone's state).
func (w *waitingCalls) take(state string, ok func(*statelessCall) bool) *statelessCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls[state]
	if c == nil || !ok(c) {
		return nil
	}
	delete(w.calls, state)
	if w.byCaller[c.caller]--; w.byCaller[c.caller] <= 0 {
		delete(w.byCaller, c.caller)
	}
	return c
}
