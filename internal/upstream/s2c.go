package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tsmcp/tsmcp/internal/upstream/conn"
)

// Server-to-client requests: an upstream's elicitation/create and
// sampling/createMessage go to the caller session whose call caused them,
// and the answer goes back, or they are refused. Attribution is exact or
// not at all (see attribution.go): a request that arrives on a call's own
// response stream (Streamable HTTP) belongs to that call; on a
// per-identity session, whose calls all come from one identity, it belongs
// to the one session of that identity with calls in flight. Anything else
// (a shared stdio child, the standalone stream, legacy SSE) cannot be
// attributed, whoever has calls in flight, and is refused: it is never sent
// to a guess. While the caller answers (for at most Options.InputWait), the
// call's timeout clock stops.

// upstreamCapabilities are the client capabilities tsmcp declares to an
// upstream: it forwards these requests (to callers that declared them).
// roots is set for per-identity upstreams (see roots.go).
func upstreamCapabilities(roots bool) mcp.ClientCapabilities {
	c := mcp.ClientCapabilities{
		Sampling:    &mcp.SamplingCapability{},
		Elicitation: &mcp.ElicitationCapability{Form: &struct{}{}, URL: &struct{}{}},
	}
	if roots {
		c.Roots = &struct {
			ListChanged bool `json:"listChanged,omitempty"`
		}{ListChanged: true}
	}
	return c
}

// errNotForwarded is the upstream's answer to a request tsmcp does not
// forward; details are in tsmcp's log.
var errNotForwarded = errors.New("tsmcp could not forward this request to the caller")

// serveRequests returns the answerer of the upstream's requests other
// than ping (elicitation, sampling), in place of mcp-go's client, so that
// they keep every field and reach the right caller.
func (s *session) serveRequests(log *slog.Logger) func(context.Context, transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	// A flood of refusals makes a bounded number of lines.
	refusals := conn.NewLogLimiter(log, "refused requests")
	return func(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
		switch req.Method {
		case string(mcp.MethodElicitationCreate), string(mcp.MethodSamplingCreateMessage):
		case string(mcp.MethodListRoots):
			return s.answerRoots(ctx, req, log.With("method", req.Method), refusals)
		default:
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.METHOD_NOT_FOUND, "method not found", nil), nil
		}
		log := log.With("method", req.Method)
		f := s.requestFlight(ctx)
		if f == nil {
			if refusals.Allow(0) {
				log.Warn("upstream request refused: " + unattributed)
			}
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.INVALID_REQUEST, errNotForwarded.Error(), nil), nil
		}
		if req.Method == string(mcp.MethodElicitationCreate) {
			raw, _ := json.Marshal(req.Params)
			s.elicits.record(raw, f.caller())
		}
		res, err := f.forward(ctx, req)
		if err != nil {
			log.Warn("upstream request not forwarded", "err", err)
			return transport.NewJSONRPCErrorResponse(req.ID, mcp.INTERNAL_ERROR, errNotForwarded.Error(), nil), nil
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		return transport.NewJSONRPCResultResponse(req.ID, b), nil
	}
}

// forward sends the upstream's request to f's caller and returns the
// answer. It ends when the call or the upstream's request does.
func (f *flight) forward(reqCtx context.Context, req transport.JSONRPCRequest) (any, error) {
	if f.clock != nil {
		defer f.clock.hold()()
	}
	raw, err := json.Marshal(req.Params)
	if err != nil {
		return nil, err
	}
	if f.asks != nil {
		return f.askStateless(reqCtx, req.Method, raw)
	}
	fctx := f.caller()
	srv := server.ServerFromContext(fctx)
	cs := server.ClientSessionFromContext(fctx)
	if srv == nil || cs == nil {
		return nil, errors.New("the call has no caller session")
	}
	caps := callerCaps(fctx)
	if req.Method == string(mcp.MethodListRoots) {
		return listRootsOf(fctx, reqCtx, caps)
	}
	// The call's clock is held meanwhile: bound the wait (a Streamable
	// HTTP caller without its GET stream never sees a sampling request).
	ctx, cancel := context.WithTimeout(fctx, f.inputWait)
	defer cancel()
	defer context.AfterFunc(reqCtx, cancel)()

	if req.Method == string(mcp.MethodElicitationCreate) {
		if caps != nil && caps.Elicitation == nil {
			return nil, errors.New("the caller did not declare elicitation")
		}
		var p mcp.ElicitationParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		if p.Mode == mcp.ElicitationModeURL && caps != nil && caps.Elicitation.URL == nil {
			return nil, errors.New("the caller did not declare URL-mode elicitation")
		}
		return srv.RequestElicitation(ctx, mcp.ElicitationRequest{
			Request: mcp.Request{Method: req.Method}, Params: p})
	}
	if caps != nil && caps.Sampling == nil {
		return nil, errors.New("the caller did not declare sampling")
	}
	var p mcp.CreateMessageParams
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return srv.RequestSampling(ctx, mcp.CreateMessageRequest{
		Request: mcp.Request{Method: req.Method}, CreateMessageParams: p})
}
