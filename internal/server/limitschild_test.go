package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// limitsChild is the state of the stdio test server in its "limits" mode
// (stdioServerEnv): what the limit tests attack with and observe.
//
//   - resources test://item/{n} (any n) and test://blob/{n} (n bytes of
//     text), and test://slow, whose read waits until the release tool is
//     called (or the read is cancelled);
//   - resources/subscribe of test://slowsub/{n} is answered (and takes
//     effect) only once the release tool is called;
//   - a prompt, hello;
//   - tools substate (the resources/subscribe and unsubscribe requests
//     received, and the URIs subscribed now, kept as a set the way real
//     servers keep them: a second subscribe changes nothing and one
//     unsubscribe ends it), slowreads (the reads of test://slow waiting)
//     and release.
type limitsChild struct {
	mu           sync.Mutex // guards the fields below
	subscribes   int
	unsubscribes int
	dups         int // subscribes of a URI already subscribed
	pending      int // subscribes of test://slowsub/{n} waiting
	active       map[string]bool
	slow         int           // reads of test://slow waiting
	release      chan struct{} // closed by the release tool
}

// subState is what the substate tool answers.
type subState struct {
	Subscribes   int      `json:"subscribes"`
	Unsubscribes int      `json:"unsubscribes"`
	Dups         int      `json:"dups"`
	Pending      int      `json:"pending"`
	Active       []string `json:"active"` // sorted
}

// options are the server options of the "limits" mode; add then gives
// the server its resources, prompt and tools.
func (c *limitsChild) options() []mcpserver.ServerOption {
	hooks := &mcpserver.Hooks{}
	hooks.AddBeforeSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest) {
		if strings.HasPrefix(req.Params.URI, "test://slowsub/") {
			c.mu.Lock()
			c.pending++
			release := c.release
			c.mu.Unlock()
			select {
			case <-release:
			case <-ctx.Done():
			}
			c.mu.Lock()
			c.pending--
			c.mu.Unlock()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.subscribes++
		if c.active[req.Params.URI] {
			c.dups++
		}
		c.active[req.Params.URI] = true
	})
	hooks.AddBeforeUnsubscribe(func(_ context.Context, _ any, req *mcp.UnsubscribeRequest) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.unsubscribes++
		delete(c.active, req.Params.URI)
	})
	return []mcpserver.ServerOption{
		mcpserver.WithHooks(hooks),
		mcpserver.WithResourceCapabilities(true, false),
		mcpserver.WithPromptCapabilities(false),
	}
}

func newLimitsChild() *limitsChild {
	return &limitsChild{active: map[string]bool{}, release: make(chan struct{})}
}

// add gives s the resources, prompt and tools of the "limits" mode.
func (c *limitsChild) add(s *mcpserver.MCPServer) {
	text := func(uri, body string) []mcp.ResourceContents {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: body}}
	}
	s.AddResourceTemplate(mcp.NewResourceTemplate("test://item/{n}", "item"),
		func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			return text(req.Params.URI, "item "+strings.TrimPrefix(req.Params.URI, "test://item/")), nil
		})
	s.AddResourceTemplate(mcp.NewResourceTemplate("test://blob/{n}", "blob"),
		func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			n, err := strconv.Atoi(strings.TrimPrefix(req.Params.URI, "test://blob/"))
			if err != nil || n < 0 || n > 16<<20 {
				return nil, err
			}
			return text(req.Params.URI, strings.Repeat("x", n)), nil
		})
	s.AddResource(mcp.NewResource("test://slow", "slow"),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			c.mu.Lock()
			c.slow++
			release := c.release
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				c.slow--
				c.mu.Unlock()
			}()
			select {
			case <-release:
				return text(req.Params.URI, "released"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
	s.AddPrompt(mcp.NewPrompt("hello"), func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return mcp.NewGetPromptResult("hello", []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent("hello"))}), nil
	})
	s.AddTool(mcp.NewTool("substate"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c.mu.Lock()
		st := subState{Subscribes: c.subscribes, Unsubscribes: c.unsubscribes, Dups: c.dups, Pending: c.pending, Active: []string{}}
		for uri := range c.active {
			st.Active = append(st.Active, uri)
		}
		c.mu.Unlock()
		slices.Sort(st.Active)
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		return mcp.NewToolResultText(string(b)), nil
	})
	s.AddTool(mcp.NewTool("slowreads"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return mcp.NewToolResultText(strconv.Itoa(c.slow)), nil
	})
	s.AddTool(mcp.NewTool("release"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		close(c.release)
		c.release = make(chan struct{})
		return mcp.NewToolResultText("released"), nil
	})
}
