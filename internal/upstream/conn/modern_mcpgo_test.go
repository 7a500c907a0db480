package conn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestModernAgainstMCPGo sends 2026-07-28 requests, with the caller's
// _meta, to mcp-go's own Streamable HTTP server (which serves that version
// and checks the standard headers against the body): a tool call that
// sends progress on its stream, a call of an unknown tool, and a request
// whose _meta names another version than the header.
func TestModernAgainstMCPGo(t *testing.T) {
	received := make(chan struct{}, 1)
	s := server.NewMCPServer("up", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text")), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		srv := server.ServerFromContext(ctx)
		if err := srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{"progressToken": "p", "progress": 1}); err != nil {
			return nil, err
		}
		// mcp-go's server drops a notification still in flight when the
		// response is ready: answer once the client has it (or after guard,
		// and the test fails).
		select {
		case <-received:
		case <-time.After(guard):
		case <-ctx.Done():
		}
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	srv := httptest.NewServer(server.NewStreamableHTTPServer(s))
	defer srv.Close()
	r := NewRemote(srv.URL, slog.New(slog.NewTextHandler(io.Discard, nil)), guard, nil)
	defer r.CloseIdle()
	m := r.Modern(nil, 0)
	meta := func(version string) string {
		return `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + version + `","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"alice","version":"1"},"progressToken":"p"}`
	}
	tests := []struct {
		name      string
		params    string
		want      string
		wantNotes []string
		wantCode  int
		wantHTTP  int
	}{
		{name: "tool call", params: `{` + meta(ModernVersion) + `,"name":"echo","arguments":{"text":"hi"}}`, want: "hi", wantNotes: []string{`notifications/progress {"progress":1,"progressToken":"p"}`}},
		{name: "unknown tool", params: `{` + meta(ModernVersion) + `,"name":"nope","arguments":{}}`, wantCode: mcp.INVALID_PARAMS, wantHTTP: 400},
		{name: "_meta version unlike the header", params: `{` + meta("2025-11-25") + `,"name":"echo","arguments":{}}`, wantHTTP: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var notes []string
			res, err := m.Do(context.Background(), "tools/call", json.RawMessage(tt.params), func(method string, params json.RawMessage) {
				notes = append(notes, method+" "+string(params))
				received <- struct{}{}
			})
			if strings.Join(notes, "|") != strings.Join(tt.wantNotes, "|") {
				t.Errorf("notifications %q, want %q", notes, tt.wantNotes)
			}
			var re *RPCError
			if tt.wantCode != 0 || tt.wantHTTP != 0 {
				if !errors.As(err, &re) || tt.wantCode != 0 && re.Code != tt.wantCode || tt.wantHTTP != 0 && re.Status != tt.wantHTTP {
					t.Fatalf("Do = %s, %v; want a JSON-RPC error (code %d, HTTP %d)", res, err, tt.wantCode, tt.wantHTTP)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out mcp.CallToolResult
			if err := json.Unmarshal(res, &out); err != nil || len(out.Content) != 1 || !strings.Contains(string(res), `"text":"`+tt.want+`"`) {
				t.Errorf("result %s (%v), want the text %q", res, err, tt.want)
			}
		})
	}
}
