package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/tools"
)

// TestAnswerWriter: a handler's MissingCapabilityError recorded before
// mcp-go answers replaces mcp-go's answer with -32021 and HTTP 400 (with
// the request's id and the capabilities named); once mcp-go's own answer
// has started, or with no such error, mcp-go's answer passes unchanged; a
// roots/list input request is written with empty params.
func TestAnswerWriter(t *testing.T) {
	const generic = `{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"tool failed"}}`
	missing := &tools.MissingCapabilityError{Required: mcp.ClientCapabilities{Sampling: &mcp.SamplingCapability{}}}
	tests := []struct {
		name       string
		handler    func(ctx context.Context, w http.ResponseWriter)
		wantStatus int
		want       string // a substring of the body
		notWant    string
	}{
		{name: "missing capability", handler: func(ctx context.Context, w http.ResponseWriter) {
			if !protocolAnswer(ctx, missing) {
				t.Error("protocolAnswer did not take a MissingCapabilityError")
			}
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(generic))
		}, wantStatus: http.StatusBadRequest, want: `"id":7,"error":{"code":-32021,"message":"missing required client capability","data":{"requiredCapabilities":{"sampling":{}}}}`, notWant: "-32603"},
		{name: "another error", handler: func(ctx context.Context, w http.ResponseWriter) {
			if protocolAnswer(ctx, errToolFailed) {
				t.Error("protocolAnswer took a plain error")
			}
			w.Write([]byte(generic))
		}, wantStatus: http.StatusOK, want: "-32603"},
		{name: "mcp-go's answer started first", handler: func(ctx context.Context, w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK)
			protocolAnswer(ctx, missing)
			w.Write([]byte(generic))
		}, wantStatus: http.StatusOK, want: "-32603", notWant: "-32021"},
		{name: "roots input request", handler: func(ctx context.Context, w http.ResponseWriter) {
			noteInputRequests(ctx, mcp.InputRequests{"r": mcp.NewRootsInputRequest()})
			w.Write([]byte(`{"result":{"inputRequests":{"r":{"method":"roots/list"}},"content":[{"text":"{\"method\":\"roots/list\"}"}]}}`))
		}, wantStatus: http.StatusOK, want: `{"r":{"method":"roots/list","params":{}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &rpcAnswer{}
			rec := httptest.NewRecorder()
			w := &answerWriter{ResponseWriter: rec, answer: a, id: json.RawMessage("7")}
			tt.handler(context.WithValue(context.Background(), rpcAnswerKey{}, a), w)
			body := rec.Body.String()
			if rec.Code != tt.wantStatus || !strings.Contains(body, tt.want) || tt.notWant != "" && strings.Contains(body, tt.notWant) {
				t.Errorf("= %d %s; want %d with %s", rec.Code, body, tt.wantStatus, tt.want)
			}
		})
	}
	// A JSON string that spells the request is escaped, so never rewritten.
	rec := httptest.NewRecorder()
	a := &rpcAnswer{rootsParams: true}
	(&answerWriter{ResponseWriter: rec, answer: a}).Write([]byte(`{"text":"{\"method\":\"roots/list\"}"}`))
	if strings.Contains(rec.Body.String(), "params") {
		t.Errorf("an escaped string was rewritten: %s", rec.Body.String())
	}
}
