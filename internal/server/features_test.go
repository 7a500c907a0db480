package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// everythingHTTP starts @modelcontextprotocol/server-everything as a
// Streamable HTTP server on a free loopback port and returns its /mcp URL.
// It is stopped (its whole process group) when the test ends.
func everythingHTTP(t testing.TB) string {
	t.Helper()
	bin := testutil.EverythingBin(t)
	addr := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr + "/mcp"
		}
		select {
		case <-exited:
			t.Fatal("server-everything (streamableHttp) exited before listening")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything (streamableHttp) not listening on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bridgeWays are the three ways server-everything is bridged in these
// tests: upstream name and configuration.
func bridgeWays(t testing.TB) []config.Upstream {
	bin := testutil.EverythingBin(t)
	return []config.Upstream{
		{Name: "every", Command: []string{bin}},
		{Name: "everypi", Command: []string{bin}, Isolation: config.IsolationPerIdentity},
		{Name: "everyhttp", URL: everythingHTTP(t)},
	}
}

// startFeatureHost starts a host bridging server-everything three ways
// under rules.
func startFeatureHost(ctx context.Context, t testing.TB, tn *tailnet, logs *logBuffer, rules func(alice, bob caller) []aclRule) *server.Server {
	t.Helper()
	cs := tn.callers()
	ups := bridgeWays(t)
	host, err := startHost(ctx, tn.net, "features-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), logs, func(c *config.Config, o *server.Options) {
		c.ACL.Rules = toRules(rules(cs[0], cs[1]))
		c.Upstreams = ups
		// The default keepalive, not the shared host's 300 ms: mcp-go's
		// SSE client takes a server ping whose ID equals a pending
		// request's for that request's answer.
		c.MCP.Keepalive = config.Default().MCP.Keepalive
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, ups)
	return host
}

// waitUpstreamsUp waits until /readyz reports every upstream up, i.e.
// listed (the host's first listing waits only a few seconds).
func waitUpstreamsUp(ctx context.Context, t testing.TB, host *server.Server, ups []config.Upstream) {
	t.Helper()
	for {
		resp, err := http.Get("http://" + host.HealthAddr().String() + "/readyz")
		body := ""
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		up := 0
		for _, u := range ups {
			if strings.Contains(body, "upstream "+u.Name+": up") {
				up++
			}
		}
		if up == len(ups) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("upstreams not up: %q", body)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sdkSession opens a go-sdk Streamable HTTP session (2026-07-28) with opts.
func featSession(ctx context.Context, t testing.TB, endpoint string, c caller, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-features-test", Version: "1"}, opts)
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.httpClient(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mcpgoSSE opens an mcp-go session on the legacy SSE transport, pinned to
// protocol 2025-11-25 (resources/subscribe; mcp-go's client would negotiate
// 2026-07-28 otherwise).
func mcpgoSSE(ctx context.Context, t *testing.T, base string, c caller) *mcpgoclient.Client {
	t.Helper()
	tr, err := mcpgotransport.NewSSE(base+"/sse", mcpgotransport.WithHTTPClient(c.httpClient()))
	if err != nil {
		t.Fatal(err)
	}
	return startLegacy(ctx, t, tr, "features-test")
}

// startLegacy starts an mcp-go client on tr, pinned to protocol
// 2025-11-25, and initializes it as name; it is closed when the test ends.
func startLegacy(ctx context.Context, t *testing.T, tr mcpgotransport.Interface, name string) *mcpgoclient.Client {
	t.Helper()
	cl := mcpgoclient.NewClient(tr, mcpgoclient.WithProtocolVersion(mcpgo.LATEST_LEGACY_PROTOCOL_VERSION))
	t.Cleanup(func() { cl.Close() })
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgo.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgo.Implementation{Name: name, Version: "1"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return cl
}

func sdkResourceURIs(ctx context.Context, t *testing.T, s *sdk.ClientSession) []string {
	t.Helper()
	res, err := s.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
	}
	slices.Sort(uris)
	return uris
}

func sdkTemplates(ctx context.Context, t *testing.T, s *sdk.ClientSession) []string {
	t.Helper()
	res, err := s.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.ResourceTemplates {
		out = append(out, r.URITemplate)
	}
	slices.Sort(out)
	return out
}

func sdkPromptNames(ctx context.Context, t *testing.T, s *sdk.ClientSession) []string {
	t.Helper()
	res, err := s.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range res.Prompts {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// staticDoc is a static resource every server-everything lists.
const staticDoc = "demo://resource/static/document/architecture.md"

// TestBridgedFeaturesEndToEnd bridges server-everything three ways (shared
// stdio, per-identity stdio, remote Streamable HTTP) and drives its
// resources, templates, prompts and completions through tsmcp with the
// official Go SDK (2026-07-28) and mcp-go's client (legacy SSE).
func TestBridgedFeaturesEndToEnd(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startFeatureHost(ctx, t, tn, logs, func(alice, bob caller) []aclRule {
		return []aclRule{{src: alice.login, tools: all, prompts: all, resources: all}}
	})
	base := "http://" + host.TailnetIP().String()
	s := featSession(ctx, t, base+"/mcp", alice, nil)
	mg := mcpgoSSE(ctx, t, base, alice)
	ways := []string{"every", "everypi", "everyhttp"}

	t.Run("resources listed with rewritten URIs", func(t *testing.T) {
		uris := sdkResourceURIs(ctx, t, s)
		for _, w := range ways {
			if !slices.Contains(uris, w+"+"+staticDoc) {
				t.Errorf("resources/list lacks %s: %v", w+"+"+staticDoc, uris)
			}
		}
		res, err := mg.ListResources(ctx, mcpgo.ListResourcesRequest{})
		if err != nil || len(res.Resources) != len(uris) {
			t.Errorf("mcp-go client: %d resources, %v; want %d", len(res.Resources), err, len(uris))
		}
	})
	t.Run("templates listed with rewritten URI templates", func(t *testing.T) {
		got := sdkTemplates(ctx, t, s)
		for _, w := range ways {
			if want := w + "+demo://resource/dynamic/text/{resourceId}"; !slices.Contains(got, want) {
				t.Errorf("resources/templates/list lacks %s: %v", want, got)
			}
		}
	})
	t.Run("read listed, templated and linked resources", func(t *testing.T) {
		for _, w := range ways {
			for _, uri := range []string{w + "+" + staticDoc, w + "+demo://resource/dynamic/text/7"} {
				res, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
				if err != nil {
					t.Fatalf("go-sdk read %s: %v", uri, err)
				}
				if len(res.Contents) != 1 || res.Contents[0].URI != uri {
					t.Errorf("read %s: contents %+v, want one with that URI", uri, res.Contents)
				}
				req := mcpgo.ReadResourceRequest{}
				req.Params.URI = uri
				mres, err := mg.ReadResource(ctx, req)
				if err != nil || len(mres.Contents) != 1 {
					t.Fatalf("mcp-go read %s: %+v, %v", uri, mres, err)
				}
			}
		}
	})
	t.Run("a resource_link from a bridged tool reads back", func(t *testing.T) {
		for _, w := range ways {
			res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: w + "__get-resource-links", Arguments: map[string]any{"count": 2}})
			if err != nil || res.IsError {
				t.Fatalf("%s__get-resource-links: %v %+v", w, err, res)
			}
			var links []string
			for _, c := range res.Content {
				if l, ok := c.(*sdk.ResourceLink); ok {
					links = append(links, l.URI)
				}
			}
			if len(links) != 2 {
				t.Fatalf("%s__get-resource-links returned links %v, want 2", w, links)
			}
			for _, uri := range links {
				if !strings.HasPrefix(uri, w+"+demo://") {
					t.Errorf("link %s does not name upstream %s", uri, w)
				}
				rr, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
				if err != nil || len(rr.Contents) != 1 || rr.Contents[0].URI != uri {
					t.Errorf("reading link %s back: %+v, %v", uri, rr, err)
				}
			}
		}
	})
	t.Run("prompts with arguments and embedded resources", func(t *testing.T) {
		names := sdkPromptNames(ctx, t, s)
		for _, w := range ways {
			for _, p := range []string{"simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"} {
				if !slices.Contains(names, w+"__"+p) {
					t.Errorf("prompts/list lacks %s__%s: %v", w, p, names)
				}
			}
			res, err := s.GetPrompt(ctx, &sdk.GetPromptParams{Name: w + "__args-prompt", Arguments: map[string]string{"city": "Lyon", "state": "Rhône"}})
			if err != nil {
				t.Fatalf("%s__args-prompt: %v", w, err)
			}
			if tc, ok := res.Messages[0].Content.(*sdk.TextContent); !ok || !strings.Contains(tc.Text, "Lyon, Rhône") {
				t.Errorf("%s__args-prompt = %+v", w, res.Messages[0].Content)
			}
			res, err = s.GetPrompt(ctx, &sdk.GetPromptParams{Name: w + "__resource-prompt", Arguments: map[string]string{"resourceType": "Text", "resourceId": "4"}})
			if err != nil {
				t.Fatalf("%s__resource-prompt: %v", w, err)
			}
			var embedded []string
			for _, m := range res.Messages {
				if er, ok := m.Content.(*sdk.EmbeddedResource); ok {
					embedded = append(embedded, er.Resource.URI)
				}
			}
			if want := w + "+demo://resource/dynamic/text/4"; !slices.Contains(embedded, want) {
				t.Errorf("%s__resource-prompt embeds %v, want %s", w, embedded, want)
			}
		}
		req := mcpgo.GetPromptRequest{}
		req.Params.Name = "every__args-prompt"
		req.Params.Arguments = map[string]string{"city": "Gent"}
		if res, err := mg.GetPrompt(ctx, req); err != nil || !strings.Contains(fmt.Sprint(res.Messages), "Gent") {
			t.Errorf("mcp-go every__args-prompt = %+v, %v", res, err)
		}
	})
	t.Run("completions for prompts and templates", func(t *testing.T) {
		for _, w := range ways {
			res, err := s.Complete(ctx, &sdk.CompleteParams{
				Ref:      &sdk.CompleteReference{Type: "ref/prompt", Name: w + "__completable-prompt"},
				Argument: sdk.CompleteParamsArgument{Name: "name", Value: "A"},
				Context:  &sdk.CompleteContext{Arguments: map[string]string{"department": "Engineering"}},
			})
			if err != nil || !slices.Equal(res.Completion.Values, []string{"Alice"}) {
				t.Errorf("%s prompt completion = %+v, %v; want [Alice]", w, res, err)
			}
			res, err = s.Complete(ctx, &sdk.CompleteParams{
				Ref:      &sdk.CompleteReference{Type: "ref/resource", URI: w + "+demo://resource/dynamic/text/{resourceId}"},
				Argument: sdk.CompleteParamsArgument{Name: "resourceId", Value: "5"},
			})
			if err != nil || !slices.Equal(res.Completion.Values, []string{"5"}) {
				t.Errorf("%s template completion = %+v, %v; want [5]", w, res, err)
			}
		}
	})
	t.Run("an upstream's resources/list_changed is re-listed and relayed", func(t *testing.T) {
		changed := make(chan struct{}, 10)
		mg.OnNotification(func(n mcpgo.JSONRPCNotification) {
			if n.Method == mcpgo.MethodNotificationResourcesListChanged {
				changed <- struct{}{}
			}
		})
		// server-everything registers a session resource, and says so,
		// when this tool runs.
		res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "every__gzip-file-as-resource",
			Arguments: map[string]any{"name": "hello.txt.gz", "data": "data:text/plain;base64,aGVsbG8=", "outputType": "resourceLink"}})
		if err != nil || res.IsError {
			t.Fatalf("every__gzip-file-as-resource: %v %+v", err, res)
		}
		const want = "every+demo://resource/session/hello.txt.gz"
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no notifications/resources/list_changed reached the client")
		}
		for !slices.Contains(sdkResourceURIs(ctx, t, s), want) {
			select {
			case <-ctx.Done():
				t.Fatalf("%s never listed", want)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: want}); err != nil {
			t.Errorf("reading %s: %v", want, err)
		}
	})
	t.Run("audit lines name the kind", func(t *testing.T) {
		for msg, kind := range map[string]string{"resources_list": "resource", "resource_read": "resource", "prompts_list": "prompt", "prompt_get": "prompt", "completion": "prompt"} {
			lines := logs.JSONLines(msg)
			if len(lines) == 0 || lines[0]["kind"] != kind || lines[0]["log"] != "audit" {
				t.Errorf("audit %s: %v, want lines of kind %s", msg, lines, kind)
			}
		}
	})
}

// TestBridgedResourceSubscriptions subscribes two sessions of alice (the
// go-sdk on 2026-07-28 through subscriptions/listen, mcp-go on legacy SSE
// through resources/subscribe) and one of bob: the update server-everything
// sends reaches exactly the subscribers, for each way of bridging.
func TestBridgedResourceSubscriptions(t *testing.T) {
	tn := startTailnet(t)
	alice, bob := tn.callers()[0], tn.callers()[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startFeatureHost(ctx, t, tn, logs, func(alice, bob caller) []aclRule {
		return []aclRule{
			{src: alice.login, tools: all, prompts: all, resources: all},
			{src: bob.login, tools: all, prompts: all, resources: all},
		}
	})
	base := "http://" + host.TailnetIP().String()

	for _, w := range []string{"every", "everypi", "everyhttp"} {
		t.Run(w, func(t *testing.T) {
			uri := w + "+" + staticDoc
			sdkUpdates := make(chan string, 100)
			s := featSession(ctx, t, base+"/mcp", alice, &sdk.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) {
					sdkUpdates <- req.Params.URI
				},
			})
			subCtx, stopSub := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Subscribe(subCtx, &sdk.SubscribeParams{URI: uri}) // blocks while listening (2026-07-28)
			}()
			defer wg.Wait()
			defer stopSub()

			mgUpdates := make(chan string, 100)
			mg := mcpgoSSE(ctx, t, base, alice)
			mg.OnNotification(func(n mcpgo.JSONRPCNotification) {
				if n.Method == mcpgo.MethodNotificationResourceUpdated {
					u, _ := n.Params.AdditionalFields["uri"].(string)
					mgUpdates <- u
				}
			})
			sreq := mcpgo.SubscribeRequest{}
			sreq.Params.URI = uri
			if err := mg.Subscribe(ctx, sreq); err != nil {
				t.Fatal(err)
			}
			// bob subscribes to another resource of the same upstream;
			// of everypi, to the same resource, on his own child.
			bobURI := w + "+demo://resource/static/document/features.md"
			if w == "everypi" {
				bobURI = uri
			}
			bobUpdates := make(chan string, 100)
			other := mcpgoSSE(ctx, t, base, bob)
			other.OnNotification(func(n mcpgo.JSONRPCNotification) {
				if n.Method == mcpgo.MethodNotificationResourceUpdated {
					bobUpdates <- fmt.Sprint(n.Params.AdditionalFields["uri"])
				}
			})
			breq := mcpgo.SubscribeRequest{}
			breq.Params.URI = bobURI
			if err := other.Subscribe(ctx, breq); err != nil {
				t.Fatal(err)
			}
			// Wait until the listen stream's subscription is in place.
			want := 2
			if w == "everypi" {
				want = 3
			}
			waitAudit(ctx, t, logs, "resource_subscribe", uri, want)

			// server-everything sends updates of subscribed resources once
			// at once, then every 5 s, after this tool is called on its
			// session: the shared child or session serves both callers;
			// everypi gives each caller their own child.
			toggle := func(c caller) {
				t.Helper()
				ts := featSession(ctx, t, base+"/mcp", c, nil)
				if res, err := ts.CallTool(ctx, &sdk.CallToolParams{Name: w + "__toggle-subscriber-updates"}); err != nil || res.IsError {
					t.Fatalf("toggle: %v %+v", err, res)
				}
			}
			toggle(alice)
			receivers := []struct {
				name string
				ch   chan string
				want string
			}{{"alice's go-sdk (listen)", sdkUpdates, uri}, {"alice's mcp-go (subscribe)", mgUpdates, uri}, {"bob's mcp-go (subscribe)", bobUpdates, bobURI}}
			if w == "everypi" {
				// bob's own child sends him nothing: his updates are
				// not started.
				receivers = receivers[:2]
			}
			for _, c := range receivers {
				select {
				case got := <-c.ch:
					if got != c.want {
						t.Errorf("%s got an update of %s, want %s", c.name, got, c.want)
					}
				case <-ctx.Done():
					t.Fatalf("%s: no notifications/resources/updated", c.name)
				}
			}
			// Everything delivered so far went to its subscriber only.
			for name, c := range map[string]struct {
				ch   chan string
				want string
			}{"alice (listen)": {sdkUpdates, uri}, "alice (subscribe)": {mgUpdates, uri}, "bob": {bobUpdates, bobURI}} {
				for len(c.ch) > 0 {
					if got := <-c.ch; got != c.want {
						t.Errorf("%s got an update of %s, subscribed only to %s", name, got, c.want)
					}
				}
			}
			if w == "everypi" {
				// Another burst from alice's child (updates off, on):
				// once it reached alice, anything of the first burst
				// misrouted to bob would have been delivered (one FIFO).
				toggle(alice)
				toggle(alice)
				select {
				case <-sdkUpdates:
				case <-ctx.Done():
					t.Fatal("no second update")
				}
				for _, l := range logs.JSONLines("resource_updated") {
					if caller, _ := l["caller"].(map[string]any); caller["user"] == bob.login && l["uri"] == bobURI {
						t.Errorf("an update from alice's own child was delivered to bob: %v", l)
					}
				}
			}
			// Stop the simulated updates for the next way.
			toggle(alice)
		})
	}
}

// waitAudit waits for at least n audit lines msg naming uri.
func waitAudit(ctx context.Context, t *testing.T, logs *logBuffer, msg, uri string, n int) {
	t.Helper()
	for {
		c := 0
		for _, l := range logs.JSONLines(msg) {
			if l["uri"] == uri {
				c++
			}
		}
		if c >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d %s audit lines for %s, want %d; log: %s", c, msg, uri, n, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sdkErr is the error code and message a go-sdk call failed with.
func sdkErr(err error) string {
	var we interface{ Error() string }
	if errors.As(err, &we) {
		return we.Error()
	}
	return fmt.Sprint(err)
}

var all = []string{"*"}

// aclRule is one local rule over the three kinds.
type aclRule struct {
	src                       string
	tools, prompts, resources []string
}

func toRules(rs []aclRule) []acl.Rule {
	var out []acl.Rule
	for _, r := range rs {
		out = append(out, acl.Rule{Src: []string{r.src}, Tools: r.tools, Prompts: r.prompts, Resources: r.resources})
	}
	return out
}
