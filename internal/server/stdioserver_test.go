package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// stdioServerEnv makes the test binary an MCP server on stdio (see
// TestMain), for bridging tests: a real child process speaking MCP through
// mcp-go's stdio server.
const stdioServerEnv = "TSMCP_SERVER_TEST_STDIO"

// runStdioServer serves echo, env (the caller variables tsmcp sets, HOME
// and the working directory), count
// (per process) and grow (adds a tool, which sends
// notifications/tools/list_changed) until stdin ends; with stdioServerEnv
// "calls", also the call routing tools (see addCallRoutingTools); with
// "trace", also traceparent (see addTraceTool); with "files", also the
// files server's resources, tool and prompt (see filesserver_test.go);
// with "limits", also the resources, prompt and tools of limitsChild;
// with "bounds", the bounds tests' hand-written server instead (see
// runBoundsServer).
func runStdioServer() {
	if os.Getenv(stdioServerEnv) == "bounds" {
		runBoundsServer() // boundsserver_test.go
		return
	}
	opts := []mcpserver.ServerOption{mcpserver.WithToolCapabilities(true), mcpserver.WithLogging()}
	if os.Getenv(stdioServerEnv) == filesMode {
		opts = append(opts, filesOptions()...)
	}
	var lc *limitsChild
	if os.Getenv(stdioServerEnv) == "limits" {
		lc = newLimitsChild()
		opts = append(opts, lc.options()...)
	}
	s := mcpserver.NewMCPServer("stdio-test", "1", opts...)
	if os.Getenv(stdioServerEnv) == filesMode {
		addFiles(s)
	}
	if lc != nil {
		lc.add(s)
	}
	if os.Getenv(stdioServerEnv) == "calls" {
		addCallRoutingTools(s)
	}
	if os.Getenv(stdioServerEnv) == "trace" {
		addTraceTool(s) // tracing_test.go
	}
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text", mcp.Required())),
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(req.GetString("text", "")), nil
		})
	s.AddTool(mcp.NewTool("env"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		cwd, _ := os.Getwd()
		b, err := json.Marshal(map[string]string{
			"login": os.Getenv("TSMCP_CALLER_LOGIN"),
			"node":  os.Getenv("TSMCP_CALLER_NODE"),
			"tags":  os.Getenv("TSMCP_CALLER_TAGS"),
			"home":  os.Getenv("HOME"),
			"cwd":   cwd,
			"token": os.Getenv("TSMCP_TEST_TOKEN"),
		})
		if err != nil {
			return nil, err
		}
		return mcp.NewToolResultText(string(b)), nil
	})
	var (
		mu    sync.Mutex
		count int
	)
	s.AddTool(mcp.NewTool("count"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		mu.Lock()
		defer mu.Unlock()
		count++
		return mcp.NewToolResultText(fmt.Sprint(count)), nil
	})
	s.AddTool(mcp.NewTool("grow"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.AddTool(mcp.NewTool("grown"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("grown"), nil
		})
		return mcp.NewToolResultText("added grown"), nil
	})
	if err := mcpserver.ServeStdio(s); err != nil {
		fmt.Fprintln(os.Stderr, "stdio test server:", err)
		os.Exit(1)
	}
}
