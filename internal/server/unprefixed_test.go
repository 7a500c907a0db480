package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestUnprefixedUpstream: an upstream configured `prefix: false` serves
// server-everything's tools, prompts and resources under their own names
// and URIs, through the tailnet, to real clients; policy patterns name
// them so; a second unprefixed copy and a declared tool that list the same
// names keep what they had first (the second copy's are dropped with a log
// line); a prefixed copy beside them keeps its "<name>__" names.
func TestUnprefixedUpstream(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := testutil.EverythingBin(t)
	no := false
	ups := []config.Upstream{
		{Name: "conf", Command: []string{bin}, Prefix: &no},
		{Name: "pre", Command: []string{bin}},
		{Name: "again", Command: []string{bin}, Prefix: &no},
	}
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "unprefixed", logs, func(c *config.Config, _ *server.Options) {
		c.ACL.Rules = toRules([]aclRule{
			{src: alice.login, tools: all, prompts: all, resources: all},
			// Patterns name the upstream's own names.
			{src: bob.login, tools: []string{"get-sum"}, prompts: []string{"simple-prompt"}, resources: []string{"demo://resource/static/*"}},
		})
		c.Upstreams = ups
		// A declared tool "echo": server-everything's echo is dropped.
		c.Tools = []config.Tool{{Name: "echo", Exec: &config.ExecTool{Command: []string{"echo", "declared echo"}}}}
		c.MCP.Keepalive = config.Default().MCP.Keepalive
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, ups)
	base := "http://" + host.TailnetIP().String()
	as := featSession(ctx, t, base+"/mcp", alice, nil)
	bs := featSession(ctx, t, base+"/mcp", bob, nil)

	toolNames := func(s *sdk.ClientSession) []string {
		t.Helper()
		var names []string
		for tl, err := range s.Tools(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, tl.Name)
		}
		return names
	}

	t.Run("names are the upstream's own, each served once", func(t *testing.T) {
		names := toolNames(as)
		for _, want := range []string{"get-sum", "echo", "pre__get-sum", "pre__echo"} {
			if n := countOf(names, want); n != 1 {
				t.Errorf("tools/list has %s %d times, want once: %v", want, n, names)
			}
		}
		for _, n := range names {
			if strings.HasPrefix(n, "conf__") || strings.HasPrefix(n, "again__") {
				t.Errorf("tools/list has %s: an unprefixed upstream's tool got a prefix", n)
			}
		}
		prompts := sdkPromptNames(ctx, t, as)
		if countOf(prompts, "simple-prompt") != 1 || countOf(prompts, "pre__simple-prompt") != 1 {
			t.Errorf("prompts/list = %v, want simple-prompt and pre__simple-prompt once each", prompts)
		}
		uris := sdkResourceURIs(ctx, t, as)
		if countOf(uris, staticDoc) != 1 || countOf(uris, "pre+"+staticDoc) != 1 {
			t.Errorf("resources/list = %v, want %s and pre+%[2]s once each", uris, staticDoc)
		}
		tmpls := sdkTemplates(ctx, t, as)
		if want := "demo://resource/dynamic/text/{resourceId}"; countOf(tmpls, want) != 1 {
			t.Errorf("resources/templates/list = %v, want %s once", tmpls, want)
		}
	})

	t.Run("calls, reads, prompts and completions route to the first owner", func(t *testing.T) {
		res, err := as.CallTool(ctx, &sdk.CallToolParams{Name: "get-sum", Arguments: map[string]any{"a": 2, "b": 3}})
		if err != nil || res.IsError || !strings.Contains(textOf(res), "5") {
			t.Errorf("get-sum = %+v, %v", res, err)
		}
		res, err = as.CallTool(ctx, &sdk.CallToolParams{Name: "echo"})
		if err != nil || res.IsError || !strings.Contains(textOf(res), "declared echo") {
			t.Errorf("echo = %q, %v; want the declared tool's answer", textOf(res), err)
		}
		for _, uri := range []string{staticDoc, "demo://resource/dynamic/text/7", "pre+" + staticDoc} {
			rr, err := as.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
			if err != nil || len(rr.Contents) != 1 || rr.Contents[0].URI != uri {
				t.Errorf("read %s = %+v, %v; want one content with that URI", uri, rr, err)
			}
		}
		res, err = as.CallTool(ctx, &sdk.CallToolParams{Name: "get-resource-links", Arguments: map[string]any{"count": 2}})
		if err != nil || res.IsError {
			t.Fatalf("get-resource-links = %+v, %v", res, err)
		}
		for _, c := range res.Content {
			l, ok := c.(*sdk.ResourceLink)
			if !ok {
				continue
			}
			if !strings.HasPrefix(l.URI, "demo://") {
				t.Errorf("link %s: want the upstream's own URI", l.URI)
			}
			if rr, err := as.ReadResource(ctx, &sdk.ReadResourceParams{URI: l.URI}); err != nil || len(rr.Contents) != 1 || rr.Contents[0].URI != l.URI {
				t.Errorf("reading link %s back = %+v, %v", l.URI, rr, err)
			}
		}
		pr, err := as.GetPrompt(ctx, &sdk.GetPromptParams{Name: "args-prompt", Arguments: map[string]string{"city": "Lyon"}})
		if err != nil || len(pr.Messages) == 0 {
			t.Errorf("args-prompt = %+v, %v", pr, err)
		}
		comp, err := as.Complete(ctx, &sdk.CompleteParams{
			Ref:      &sdk.CompleteReference{Type: "ref/prompt", Name: "completable-prompt"},
			Argument: sdk.CompleteParamsArgument{Name: "name", Value: "A"},
			Context:  &sdk.CompleteContext{Arguments: map[string]string{"department": "Engineering"}},
		})
		if err != nil || !slices.Equal(comp.Completion.Values, []string{"Alice"}) {
			t.Errorf("prompt completion = %+v, %v; want [Alice]", comp, err)
		}
		comp, err = as.Complete(ctx, &sdk.CompleteParams{
			Ref:      &sdk.CompleteReference{Type: "ref/resource", URI: "demo://resource/dynamic/text/{resourceId}"},
			Argument: sdk.CompleteParamsArgument{Name: "resourceId", Value: "5"},
		})
		if err != nil || !slices.Equal(comp.Completion.Values, []string{"5"}) {
			t.Errorf("template completion = %+v, %v; want [5]", comp, err)
		}
	})

	t.Run("policy patterns name the unprefixed names", func(t *testing.T) {
		if got := toolNames(bs); !slices.Equal(got, []string{"get-sum"}) {
			t.Errorf("bob's tools/list = %v, want [get-sum]", got)
		}
		if got := sdkPromptNames(ctx, t, bs); !slices.Equal(got, []string{"simple-prompt"}) {
			t.Errorf("bob's prompts/list = %v, want [simple-prompt]", got)
		}
		if _, err := bs.ReadResource(ctx, &sdk.ReadResourceParams{URI: staticDoc}); err != nil {
			t.Errorf("bob reading %s: %v", staticDoc, err)
		}
		for _, uri := range []string{"pre+" + staticDoc, "demo://resource/dynamic/text/7"} {
			if _, err := bs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err == nil {
				t.Errorf("bob read %s, which his policy does not allow", uri)
			}
		}
		res, err := bs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "x"}})
		if err == nil && !res.IsError {
			t.Errorf("bob called echo, which his policy does not allow: %+v", res)
		}
	})

	t.Run("dropped names are logged", func(t *testing.T) {
		for _, want := range []string{
			`"upstream":"again","tool":"get-sum","by":"upstream conf"`,
			`"upstream":"conf","tool":"echo","by":"a built-in or declared tool"`,
			`"upstream":"again","prompt":"simple-prompt","by":"upstream conf"`,
			`"upstream":"again","resource":"` + staticDoc + `","by":"upstream conf"`,
			`"upstream":"again","template":"demo://resource/dynamic/text/{resourceId}","by":"upstream conf"`,
		} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log lacks %s:\n%s", want, logs.String())
			}
		}
	})
}

// countOf is how many times s holds v.
func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
