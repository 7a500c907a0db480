package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// Protocol errors of the stateless protocol (2026-07-28) from a handler.
//
// mcp-go answers every error a tool or prompt handler returns as an
// internal error (-32603, HTTP 200), but a 2026-07-28 request that needs a
// client capability the caller did not declare must be answered with
// MissingRequiredClientCapabilityError (-32021) and HTTP 400, naming the
// capabilities; bridged upstreams say so (tools.MissingCapabilityError).
// So for a single 2026-07-28 request, answerErrors puts an rpcAnswer in
// the request's context: the handler's wrapper (auditCall, auditPrompt)
// records the error there, and answerWriter writes that answer instead of
// mcp-go's. Once mcp-go has started a response of its own (a stream,
// after a notification) the answer stays mcp-go's generic error.

// rpcAnswer is the JSON-RPC error a handler chose for its request.
type rpcAnswer struct {
	mu     sync.Mutex // guards the fields below
	err    *mcp.JSONRPCErrorDetails
	status int
	// rootsParams: the answer asks for roots (see rootsWithParams).
	rootsParams bool
}

type rpcAnswerKey struct{}

// set records err as the request's answer, with HTTP status.
func (a *rpcAnswer) set(err *mcp.JSONRPCErrorDetails, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.err, a.status = err, status
}

func (a *rpcAnswer) get() (*mcp.JSONRPCErrorDetails, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err, a.status
}

// protocolAnswer records, for a handler error err that the protocol
// answers with an error of its own, that answer in ctx's rpcAnswer, and
// reports whether it did.
func protocolAnswer(ctx context.Context, err error) bool {
	var mc *tools.MissingCapabilityError
	a, _ := ctx.Value(rpcAnswerKey{}).(*rpcAnswer)
	if a == nil || !errors.As(err, &mc) {
		return false
	}
	details := mcp.NewJSONRPCErrorDetails(mcp.MISSING_REQUIRED_CLIENT_CAPABILITY, "missing required client capability",
		map[string]any{"requiredCapabilities": mc.Required})
	a.set(&details, http.StatusBadRequest)
	return true
}

// Input requests for roots. mcp-go encodes a roots/list input request of
// an input_required result as {"method":"roots/list"}, without params,
// which the schema allows; the official go-sdk client (v1.8.0) cannot
// decode it and fails the call. So when an answer asks for roots,
// answerWriter writes the request with empty params, as the TypeScript
// SDK does. The encoding is exact: encoding/json writes a map's keys in
// order and escapes quotes inside strings, so the bytes below occur in
// mcp-go's output only as that request.
var (
	rootsNoParams   = []byte(`{"method":"roots/list"}`)
	rootsWithParams = []byte(`{"method":"roots/list","params":{}}`)
)

// noteInputRequests records, in ctx's rpcAnswer, that the answer asks for
// roots.
func noteInputRequests(ctx context.Context, reqs mcp.InputRequests) {
	a, _ := ctx.Value(rpcAnswerKey{}).(*rpcAnswer)
	if a == nil {
		return
	}
	for _, r := range reqs {
		if r.Method == mcp.MethodListRoots {
			a.mu.Lock()
			a.rootsParams = true
			a.mu.Unlock()
			return
		}
	}
}

// answerErrors serves a single 2026-07-28 request (tools/call,
// prompts/get) with an rpcAnswer in its context, and its answer through
// answerWriter.
func (s *Server) answerErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		p := peekRPC(r)
		m := mcp.MCPMethod(p.Method())
		if !p.Single() || p.ID() == nil || !p.Modern(r.Header.Get(mcp.HeaderProtocolVersion)) ||
			m != mcp.MethodToolsCall && m != mcp.MethodPromptsGet {
			next.ServeHTTP(w, r)
			return
		}
		a := &rpcAnswer{}
		aw := &answerWriter{ResponseWriter: w, answer: a, id: p.ID()}
		next.ServeHTTP(aw, r.WithContext(context.WithValue(r.Context(), rpcAnswerKey{}, a)))
	})
}

// answerWriter writes the rpcAnswer of its request, if one was chosen
// before mcp-go started its own response, instead of mcp-go's.
type answerWriter struct {
	http.ResponseWriter
	answer  *rpcAnswer
	id      json.RawMessage
	started bool // mcp-go's response went out
	written bool // the answer went out: mcp-go's is dropped
}

func (w *answerWriter) WriteHeader(code int) {
	switch {
	case w.written:
		return
	case w.started:
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if err, status := w.answer.get(); err != nil {
		w.written = true
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(status)
		_ = json.NewEncoder(w.ResponseWriter).Encode(struct {
			JSONRPC string                   `json:"jsonrpc"`
			ID      json.RawMessage          `json:"id"`
			Error   *mcp.JSONRPCErrorDetails `json:"error"`
		}{mcp.JSONRPC_VERSION, w.id, err})
		return
	}
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *answerWriter) Write(p []byte) (int, error) {
	if !w.started && !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.written {
		return len(p), nil
	}
	w.answer.mu.Lock()
	roots := w.answer.rootsParams
	w.answer.mu.Unlock()
	if roots && bytes.Contains(p, rootsNoParams) {
		if _, err := w.ResponseWriter.Write(bytes.ReplaceAll(p, rootsNoParams, rootsWithParams)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes mcp-go's flushes of its own response on.
func (w *answerWriter) Flush() {
	if w.written {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
