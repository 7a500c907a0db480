package server_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// addCallRoutingTools gives the stdio test server (when stdioServerEnv is
// "calls") the tools the call routing tests drive: progress, silence,
// gates, log messages, elicitation and sampling, each labelled by the
// caller so that a test can tell whose is whose.
func addCallRoutingTools(s *mcpserver.MCPServer) {
	progress := func(ctx context.Context, req mcp.CallToolRequest, n int, label string) {
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
			return
		}
		_ = s.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
			"progressToken": req.Params.Meta.ProgressToken,
			"progress":      n,
			"message":       label,
		})
	}
	// tick reports progress every every_ms for for_ms, then falls silent
	// for then_ms, then answers.
	s.AddTool(mcp.NewTool("tick", mcp.WithNumber("every_ms"), mcp.WithNumber("for_ms"), mcp.WithNumber("then_ms"), mcp.WithString("label")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			every := time.Duration(req.GetInt("every_ms", 100)) * time.Millisecond
			end := time.Now().Add(time.Duration(req.GetInt("for_ms", 0)) * time.Millisecond)
			n := 0
			for time.Now().Before(end) {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(every):
				}
				n++
				progress(ctx, req, n, req.GetString("label", ""))
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(req.GetInt("then_ms", 0)) * time.Millisecond):
			}
			return mcp.NewToolResultText(fmt.Sprintf("ticked %d", n)), nil
		})
	// silent sleeps ms without a word.
	s.AddTool(mcp.NewTool("silent", mcp.WithNumber("ms")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(req.GetInt("ms", 0)) * time.Millisecond):
			}
			return mcp.NewToolResultText("woke"), nil
		})
	// gate waits until open is called with its name, reporting progress
	// labelled label every 100 ms meanwhile (the first at once).
	var (
		mu    sync.Mutex
		gates = map[string]chan struct{}{}
	)
	gate := func(name string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if gates[name] == nil {
			gates[name] = make(chan struct{})
		}
		return gates[name]
	}
	wait := func(ctx context.Context, req mcp.CallToolRequest, name, label string) (*mcp.CallToolResult, error) {
		g := gate(name)
		for n := 1; ; n++ {
			progress(ctx, req, n, label)
			select {
			case <-g:
				return mcp.NewToolResultText("passed"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	s.AddTool(mcp.NewTool("gate", mcp.WithString("name"), mcp.WithString("label")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return wait(ctx, req, req.GetString("name", ""), req.GetString("label", ""))
		})
	s.AddTool(mcp.NewTool("open", mcp.WithString("name")),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			close(gate(req.GetString("name", "")))
			return mcp.NewToolResultText("opened"), nil
		})
	// log sends log messages (data label at level, then label2 at level2
	// if given), then waits for the gate named gate, if any: mcp-go's
	// stdio server may write the result before the notifications, and the
	// message must arrive while the call is in flight.
	s.AddTool(mcp.NewTool("log", mcp.WithString("label"), mcp.WithString("level"),
		mcp.WithString("label2"), mcp.WithString("level2"), mcp.WithString("gate")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			for _, k := range []string{"", "2"} {
				label := req.GetString("label"+k, "")
				if label == "" {
					continue
				}
				level := mcp.LoggingLevel(req.GetString("level"+k, string(mcp.LoggingLevelInfo)))
				if err := s.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(level, "child", label)); err != nil {
					return mcp.NewToolResultError(err.Error()), nil
				}
			}
			if g := req.GetString("gate", ""); g != "" {
				return wait(ctx, req, g, "")
			}
			return mcp.NewToolResultText("logged"), nil
		})
	// elicit asks the client for input and answers with what came back.
	s.AddTool(mcp.NewTool("elicit", mcp.WithString("label")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
				Message: req.GetString("label", ""),
				RequestedSchema: map[string]any{"type": "object",
					"properties": map[string]any{"answer": map[string]any{"type": "string"}}},
			}})
			if err != nil {
				return mcp.NewToolResultError("elicitation failed: " + err.Error()), nil
			}
			return mcp.NewToolResultText(fmt.Sprintf("%s %v", res.Action, res.Content)), nil
		})
	// late answers at once; in the background it then waits until the
	// file path exists, sends the log message label and asks for
	// elicitation, and writes what became of it to path+".out": messages
	// sent after the call that caused them has returned.
	s.AddTool(mcp.NewTool("late", mcp.WithString("label"), mcp.WithString("path")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			ctx = context.WithoutCancel(ctx)
			label, path := req.GetString("label", ""), req.GetString("path", "")
			go func() {
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if _, err := os.Stat(path); err == nil {
						break
					}
				}
				_ = s.SendLogMessageToClient(ctx, mcp.NewLoggingMessageNotification(mcp.LoggingLevelInfo, "child", label))
				res, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
					Message: label, RequestedSchema: map[string]any{"type": "object"}}})
				out := "elicitation failed"
				if err == nil {
					out = fmt.Sprintf("%s %v", res.Action, res.Content)
				}
				_ = os.WriteFile(path+".out", []byte(out), 0o600)
			}()
			return mcp.NewToolResultText("scheduled"), nil
		})
	// sample asks the client for a completion and answers with its text.
	// roots asks for the caller's roots during the call and answers
	// their URIs.
	s.AddTool(mcp.NewTool("roots"),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := s.RequestRoots(ctx, mcp.ListRootsRequest{Request: mcp.Request{Method: string(mcp.MethodListRoots)}})
			if err != nil {
				return mcp.NewToolResultError("roots failed: " + err.Error()), nil
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return mcp.NewToolResultText(fmt.Sprintf("roots %v", uris)), nil
		})
	s.AddTool(mcp.NewTool("sample", mcp.WithString("label")),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := s.RequestSampling(ctx, mcp.CreateMessageRequest{CreateMessageParams: mcp.CreateMessageParams{
				Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent(req.GetString("label", ""))}},
				MaxTokens: 10,
			}})
			if err != nil {
				return mcp.NewToolResultError("sampling failed: " + err.Error()), nil
			}
			text := ""
			if tc, ok := res.Content.(mcp.TextContent); ok {
				text = tc.Text
			}
			return mcp.NewToolResultText("sampled " + res.Model + " " + text), nil
		})
}
