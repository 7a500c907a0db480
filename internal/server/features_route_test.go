package server_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// fakeFeatures is a provider of resources and prompts that records what
// the host asks of it.
type fakeFeatures struct {
	mu        sync.Mutex // guards the fields below
	read      []string
	prompts   []string
	resources func()
	promptsFn func()
}

func (f *fakeFeatures) Name() string                                { return "fake" }
func (f *fakeFeatures) Close() error                                { return nil }
func (f *fakeFeatures) Tools(context.Context) ([]tools.Tool, error) { return nil, nil }

func (f *fakeFeatures) Resources(context.Context) ([]mcpgo.Resource, []mcpgo.ResourceTemplate) {
	return []mcpgo.Resource{mcpgo.NewResource("fake+file:///Docs/é.txt", "doc")}, nil
}

func (f *fakeFeatures) ReadResource(_ context.Context, uri string) ([]mcpgo.ResourceContents, error) {
	f.mu.Lock()
	f.read = append(f.read, uri)
	f.mu.Unlock()
	if !strings.HasPrefix(uri, "fake+") {
		return nil, tools.ErrNotFound
	}
	return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, Text: "contents of " + uri}}, nil
}

func (f *fakeFeatures) SubscribeResource(context.Context, string, func()) (func(), error) {
	return func() {}, nil
}

func (f *fakeFeatures) CompleteResource(context.Context, string, mcpgo.CompleteArgument, mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return nil, tools.ErrNotFound
}

func (f *fakeFeatures) OnResourcesChanged(fn func()) {
	f.mu.Lock()
	f.resources = fn
	f.mu.Unlock()
}

func (f *fakeFeatures) Prompts(context.Context) []tools.Prompt {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []tools.Prompt
	for _, name := range f.prompts {
		ps = append(ps, tools.Prompt{Prompt: mcpgo.NewPrompt(name), Handler: func(context.Context, mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
			return mcpgo.NewGetPromptResult("", nil), nil
		}})
	}
	return ps
}

func (f *fakeFeatures) CompletePrompt(context.Context, string, mcpgo.CompleteArgument, mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	return nil, tools.ErrNotFound
}

func (f *fakeFeatures) OnPromptsChanged(fn func()) {
	f.mu.Lock()
	f.promptsFn = fn
	f.mu.Unlock()
}

// TestResourceReadRoutesEveryURI: every resources/read reaches the
// providers, whatever its URI (non-ASCII, characters outside RFC 3986, no
// upstream prefix: URIs mcp-go's template matching would not take), so that refused, missing and
// existing resources are all decided in one place. The clients' own
// arguments never reach the providers.
func TestResourceReadRoutesEveryURI(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := &fakeFeatures{prompts: []string{"fake__one"}}
	host, err := startHost(ctx, tn.net, "route", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL.Rules = toRules([]aclRule{{src: alice.login, tools: all, prompts: all, resources: all}})
		o.Tools = server.Providers(tools.Builtin{}, f)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	s := featSession(ctx, t, "http://"+host.TailnetIP().String()+"/mcp", alice, nil)

	// (The policy refuses URIs with spaces or control characters, and URIs
	// not in canonical form, below.)
	for _, uri := range []string{"fake+file:///Docs/é.txt", `fake+x:{"q"}|<y>^z`, "file:///no-prefix"} {
		res, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
		f.mu.Lock()
		reached := slices.Contains(f.read, uri)
		f.mu.Unlock()
		if !reached {
			t.Errorf("reading %q did not reach the provider (reads: %q)", uri, f.read)
		}
		if strings.HasPrefix(uri, "fake+") && (err != nil || res.Contents[0].Text != "contents of "+uri) {
			t.Errorf("reading %q = %+v, %v", uri, res, err)
		}
	}
	if slices.Contains(f.read, "tsmcp-internal:read") {
		t.Error("the route's own URI reached the provider")
	}
	// A URI not in canonical form is refused before any provider.
	for _, uri := range []string{`fake+x:{"q"}\z`, "fake+file:///Docs/../é.txt", "fake+file:///Docs/%2e%2e/é.txt"} {
		if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err == nil {
			t.Errorf("reading %q succeeded", uri)
		}
		f.mu.Lock()
		reached := slices.Contains(f.read, uri)
		f.mu.Unlock()
		if reached {
			t.Errorf("reading %q reached the provider", uri)
		}
	}
}

// TestFeatureListChangedReachesClients: a provider's changed resources or
// prompts become notifications/resources/list_changed and
// notifications/prompts/list_changed to connected clients, and the new
// prompts are listed.
func TestFeatureListChangedReachesClients(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := &fakeFeatures{prompts: []string{"fake__one"}}
	host, err := startHost(ctx, tn.net, "listchanged", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL.Rules = toRules([]aclRule{{src: alice.login, tools: all, prompts: all, resources: all}})
		c.MCP.Keepalive = config.Default().MCP.Keepalive // see startFeatureHost
		o.Tools = server.Providers(tools.Builtin{}, f)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	cl := mcpgoSSE(ctx, t, "http://"+host.TailnetIP().String(), alice)
	got := make(chan string, 10)
	cl.OnNotification(func(n mcpgo.JSONRPCNotification) { got <- n.Method })

	f.mu.Lock()
	f.prompts = append(f.prompts, "fake__two")
	changedPrompts, changedResources := f.promptsFn, f.resources
	f.mu.Unlock()
	changedPrompts()
	changedResources()
	want := map[string]bool{mcpgo.MethodNotificationPromptsListChanged: true, mcpgo.MethodNotificationResourcesListChanged: true}
	for len(want) > 0 {
		select {
		case m := <-got:
			delete(want, m)
		case <-ctx.Done():
			t.Fatalf("notifications never received: %v", want)
		}
	}
	res, err := cl.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil || len(res.Prompts) != 2 {
		t.Errorf("prompts after the change: %+v, %v", res, err)
	}
}
