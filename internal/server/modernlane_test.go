package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// modernUpstream starts an MCP server (mcp-go, Streamable HTTP) that
// speaks both eras, and returns its URL:
//
//   - seen answers what the request's _meta said: "session" for a
//     session-era request, else the capabilities, log level and client
//     name it carried, and its X-Key and X-Tsmcp-Caller-Login headers;
//   - ask asks for the caller's name with an input_required result (state
//     "upstream-state-<label>") and greets the answer, naming the state it
//     got back;
//   - only_modern is listed to 2026-07-28 requests only;
//   - the prompt greet asks like ask (state "upstream-prompt-state").
func modernUpstream(t *testing.T) string {
	t.Helper()
	s := mcpserver.NewMCPServer("modern-upstream", "1", mcpserver.WithToolCapabilities(true), mcpserver.WithPromptCapabilities(true),
		mcpserver.WithToolFilter(func(ctx context.Context, in []mcp.Tool) []mcp.Tool {
			if mcpserver.IsModernRequest(ctx) {
				return in
			}
			return slices.DeleteFunc(slices.Clone(in), func(t mcp.Tool) bool { return t.Name == "only_modern" })
		}))
	s.AddTool(mcp.NewTool("seen"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		info := mcpserver.RequestProtocolInfoFromContext(ctx)
		if info == nil || !info.Modern {
			return mcp.NewToolResultText("session"), nil
		}
		caps, _ := json.Marshal(info.ClientCapabilities)
		client := ""
		if info.ClientInfo != nil {
			client = info.ClientInfo.Name
		}
		return mcp.NewToolResultText(fmt.Sprintf("caps=%s level=%q client=%s key=%s login=%s", caps, info.LogLevel, client,
			req.Header.Get("X-Key"), req.Header.Get("X-Tsmcp-Caller-Login"))), nil
	})
	s.AddTool(mcp.NewTool("ask", mcp.WithString("label")), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if r, ok := req.Params.InputResponses["name"]; ok {
			raw, _ := json.Marshal(r)
			return mcp.NewToolResultText(fmt.Sprintf("hello %s with %s", raw, req.Params.RequestState)), nil
		}
		b := mcpserver.NewInputRequestBuilder("upstream-state-" + req.GetString("label", ""))
		b.Elicit("name", mcp.ElicitationParams{Message: "who are you?", RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		return b.ToolResult(), nil
	})
	s.AddPrompt(mcp.NewPrompt("greet"), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		if r, ok := req.Params.InputResponses["name"]; ok {
			raw, _ := json.Marshal(r)
			return mcp.NewGetPromptResult("greeting", []mcp.PromptMessage{
				mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(fmt.Sprintf("hello %s with %s", raw, req.Params.RequestState)))}), nil
		}
		b := mcpserver.NewInputRequestBuilder("upstream-prompt-state")
		b.Elicit("name", mcp.ElicitationParams{Message: "who are you?", RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		return b.PromptResult(), nil
	})
	s.AddTool(mcp.NewTool("only_modern"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("modern only"), nil
	})
	srv := httptest.NewServer(mcpserver.NewStreamableHTTPServer(s))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// TestModernLane: with protocol: auto, a caller on 2026-07-28 reaches an
// upstream that speaks it in that era, with its own _meta, and gets the
// upstream's input_required result with the requestState sealed for them
// and the tool: another identity, another tool, a tampered state are
// refused before the upstream sees them. A caller on a session keeps the
// session and is not offered what only the 2026-07-28 listing has.
func TestModernLane(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := modernUpstream(t)
	// mi is the same server per identity, sent each caller's own key.
	keys := t.TempDir()
	for _, c := range cs[:2] {
		dir := filepath.Join(keys, secrets.DirEntry("user:"+c.login))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "key"), []byte(c.name+"-key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}, Prompts: []string{"*"}}}}
		c.Secrets.Source = "dir:" + keys
		c.Upstreams = []config.Upstream{
			{Name: "md", URL: url, Protocol: config.ProtocolAuto, Timeout: 5 * time.Second},
			{Name: "mi", URL: url, Protocol: config.ProtocolAuto, Timeout: 5 * time.Second, Isolation: config.IsolationPerIdentity,
				Headers: map[string]string{"X-Key": "${secret:key}"}},
		}
	})
	alice := rawStatelessPeer(ctx, t, endpoint, cs[0], "lane-alice")
	bob := rawStatelessPeer(ctx, t, endpoint, cs[1], "lane-bob")
	var sh heard
	session := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &sh)

	// The upstream's tools each caller is offered (not the built-ins).
	upstreamTools := func(names []string) []string {
		names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, "md__") })
		slices.Sort(names)
		return names
	}
	modernNames := upstreamTools(sdkToolNames(ctx, t, alice))
	sessionNames := upstreamTools(testutil.MCPGoToolNames(ctx, t, session))
	if want := []string{"md__ask", "md__only_modern", "md__seen"}; !slices.Equal(modernNames, want) {
		t.Errorf("a 2026-07-28 caller is listed %q, want %q", modernNames, want)
	}
	if want := []string{"md__ask", "md__seen"}; !slices.Equal(sessionNames, want) {
		t.Errorf("a session caller is listed %q, want %q", sessionNames, want)
	}

	t.Run("the caller's _meta reaches the upstream", func(t *testing.T) {
		text, isErr := sdkCall(ctx, t, alice, "md__seen", "", nil)
		if isErr || !strings.Contains(text, `"elicitation":{`) || !strings.Contains(text, "client=lane-alice") {
			t.Errorf("through the lane the upstream saw %q (isError %v), want alice's capabilities and client", text, isErr)
		}
		if text, _ := mcpgoCall(ctx, t, session, "md__seen", "", nil); text != "session" {
			t.Errorf("a session caller's call reached the upstream as %q, want the session", text)
		}
		if text, _, err := mcpgoTry(ctx, session, "md__only_modern", "", nil); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("a session caller's call of a tool only 2026-07-28 lists = %q, %v; want not found", text, err)
		}
		if text, isErr := sdkCall(ctx, t, alice, "md__only_modern", "", nil); isErr || text != "modern only" {
			t.Errorf("only_modern through the lane = %q (isError %v)", text, isErr)
		}
	})

	t.Run("per identity: each caller's own headers", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			s    *sdk.ClientSession
			c    caller
		}{{"alice", alice, cs[0]}, {"bob", bob, cs[1]}} {
			text, isErr := sdkCall(ctx, t, tt.s, "mi__seen", "", nil)
			if want := fmt.Sprintf("key=%s-key login=%s", tt.name, tt.c.login); isErr || !strings.HasSuffix(text, want) || !strings.HasPrefix(text, "caps=") {
				t.Errorf("%s's call through the per-identity lane = %q (isError %v), want a 2026-07-28 request ending %q", tt.name, text, isErr, want)
			}
		}
		if text, isErr := sdkCall(ctx, t, alice, "mi__only_modern", "", nil); isErr || text != "modern only" {
			t.Errorf("mi__only_modern through the per-identity lane = %q (isError %v)", text, isErr)
		}
	})

	t.Run("input_required is sealed for its caller and tool", func(t *testing.T) {
		first, err := alice.CallTool(ctx, &sdk.CallToolParams{Name: "md__ask", Arguments: map[string]any{"label": "a1"}})
		if err != nil || first.RequestState == "" || len(first.InputRequests) != 1 {
			t.Fatalf("first round trip = %+v, %v; want input_required", first, err)
		}
		if strings.Contains(first.RequestState, "upstream-state") {
			t.Errorf("the caller got the upstream's own state %q", first.RequestState)
		}
		answer := sdk.InputResponseMap{"name": &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "mallory"}}}
		for _, tt := range []struct {
			name  string
			s     *sdk.ClientSession
			tool  string
			state string
		}{
			{"another identity", bob, "md__ask", first.RequestState},
			{"another tool", alice, "md__seen", first.RequestState},
			{"tampered", alice, "md__ask", first.RequestState[:len(first.RequestState)-2] + "AA"},
			{"the upstream's own state", alice, "md__ask", "upstream-state-a1"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res, err := tt.s.CallTool(ctx, &sdk.CallToolParams{Name: tt.tool, Arguments: map[string]any{"label": "a1"},
					RequestState: tt.state, InputResponses: answer})
				if err == nil {
					t.Fatalf("= %+v; want a JSON-RPC error", res)
				}
			})
		}
		answer["name"] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "alice"}}
		final, err := alice.CallTool(ctx, &sdk.CallToolParams{Name: "md__ask", Arguments: map[string]any{"label": "a1"},
			RequestState: first.RequestState, InputResponses: answer})
		if err != nil || final.IsError || len(final.Content) != 1 {
			t.Fatalf("alice's answer = %+v, %v", final, err)
		}
		if got := final.Content[0].(*sdk.TextContent).Text; !strings.Contains(got, `"name":"alice"`) || !strings.HasSuffix(got, "with upstream-state-a1") {
			t.Errorf("the upstream got %q, want alice's answer with its own state", got)
		}
		refused := 0
		for _, l := range logs.JSONLines("tool_call") {
			if l["outcome"] == "refused" && strings.Contains(fmt.Sprint(l["err"]), "requestState not sealed") {
				refused++
			}
		}
		if refused != 4 {
			t.Errorf("%d refused states audited, want 4", refused)
		}
	})

	t.Run("a prompt's input_required is sealed for its caller and prompt", func(t *testing.T) {
		first, err := alice.GetPrompt(ctx, &sdk.GetPromptParams{Name: "md__greet"})
		if err != nil || first.RequestState == "" || len(first.InputRequests) != 1 {
			t.Fatalf("first round trip = %+v, %v; want input_required", first, err)
		}
		answer := sdk.InputResponseMap{"name": &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "mallory"}}}
		for _, tt := range []struct {
			name  string
			s     *sdk.ClientSession
			state string
		}{
			{"another identity", bob, first.RequestState},
			{"the upstream's own state", alice, "upstream-prompt-state"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if res, err := tt.s.GetPrompt(ctx, &sdk.GetPromptParams{Name: "md__greet", RequestState: tt.state, InputResponses: answer}); err == nil {
					t.Fatalf("= %+v; want a JSON-RPC error", res)
				}
			})
		}
		answer["name"] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "alice"}}
		final, err := alice.GetPrompt(ctx, &sdk.GetPromptParams{Name: "md__greet", RequestState: first.RequestState, InputResponses: answer})
		if err != nil || len(final.Messages) != 1 {
			t.Fatalf("alice's answer = %+v, %v", final, err)
		}
		if got := final.Messages[0].Content.(*sdk.TextContent).Text; !strings.Contains(got, `"name":"alice"`) || !strings.HasSuffix(got, "with upstream-prompt-state") {
			t.Errorf("the upstream got %q, want alice's answer with its own state", got)
		}
	})

	t.Run("a session caller's input round trip is the host's", func(t *testing.T) {
		// The call goes over the session: the upstream (mcp-go) asks
		// with an elicitation on it, which reaches the caller.
		text, isErr := mcpgoCall(ctx, t, session, "md__ask", "", map[string]any{"label": "s1"})
		if isErr || !strings.Contains(text, "upstream-state-s1") {
			t.Errorf("session caller's call = %q (isError %v)", text, isErr)
		}
	})
}
