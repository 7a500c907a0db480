package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/acl"
)

// TestBridgedFeaturesPolicy: an identity granted only tools sees no prompts
// or resources; a tailnet grant {"resources": ["every+*"]} opens exactly
// that upstream's resources; reading or completing what is not allowed
// fails exactly like reading or completing something missing.
func TestBridgedFeaturesPolicy(t *testing.T) {
	tn := startTailnet(t)
	alice, bob, carol := tn.callers()[0], tn.callers()[1], tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(carol.node.IP, tailcfg.PeerCapMap{capName: {`{"resources":["every+*"]}`}})
	defer tn.net.SetPeerCaps(carol.node.IP, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startFeatureHost(ctx, t, tn, logs, func(alice, bob caller) []aclRule {
		return []aclRule{
			{src: alice.login, tools: all, prompts: all, resources: all},
			{src: bob.login, tools: []string{"every__*"}},
		}
	})
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	as := featSession(ctx, t, endpoint, alice, nil)
	bs := featSession(ctx, t, endpoint, bob, nil)
	cs := featSession(ctx, t, endpoint, carol, nil)

	t.Run("granted only tools: no prompts, resources or templates", func(t *testing.T) {
		if got := sdkPromptNames(ctx, t, bs); len(got) != 0 {
			t.Errorf("bob lists prompts %v", got)
		}
		if got := sdkResourceURIs(ctx, t, bs); len(got) != 0 {
			t.Errorf("bob lists resources %v", got)
		}
		if got := sdkTemplates(ctx, t, bs); len(got) != 0 {
			t.Errorf("bob lists templates %v", got)
		}
		if got := toolNames(ctx, t, bs); !slices.Contains(got, "every__echo") {
			t.Errorf("bob's tools %v lack every__echo", got)
		}
	})
	t.Run("the identity page shows the same prompts and resources", func(t *testing.T) {
		base := "http://" + host.TailnetIP().String() + "/"
		for _, c := range []struct {
			who caller
			s   *sdk.ClientSession
		}{{alice, as}, {bob, bs}, {carol, cs}} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
			req.Header.Set("Accept", "application/json")
			resp, err := c.who.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Prompts, Resources []struct {
					Name string `json:"name"`
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			var prompts, resources []string
			for _, p := range page.Prompts {
				prompts = append(prompts, p.Name)
			}
			for _, r := range page.Resources {
				resources = append(resources, r.Name)
			}
			wantPrompts := sdkPromptNames(ctx, t, c.s)
			wantResources := append(sdkResourceURIs(ctx, t, c.s), sdkTemplates(ctx, t, c.s)...)
			slices.Sort(wantPrompts)
			slices.Sort(wantResources)
			if !slices.Equal(prompts, wantPrompts) || !slices.Equal(resources, wantResources) {
				t.Errorf("%s's page shows prompts %q and resources %q; MCP lists %q and %q", c.who.name, prompts, resources, wantPrompts, wantResources)
			}
			if c.who.name == "alice" && (len(prompts) == 0 || len(resources) == 0) {
				t.Errorf("alice's page shows no prompts or no resources")
			}
		}
	})
	t.Run("a grant of every+* opens that upstream's resources only", func(t *testing.T) {
		uris := sdkResourceURIs(ctx, t, cs)
		if len(uris) == 0 {
			t.Fatal("carol lists no resources")
		}
		for _, u := range uris {
			if !strings.HasPrefix(u, "every+") {
				t.Errorf("carol lists %s", u)
			}
		}
		if got := sdkTemplates(ctx, t, cs); !slices.Equal(got, []string{"every+demo://resource/dynamic/blob/{resourceId}", "every+demo://resource/dynamic/text/{resourceId}"}) {
			t.Errorf("carol's templates = %v", got)
		}
		if got := sdkPromptNames(ctx, t, cs); len(got) != 0 {
			t.Errorf("carol lists prompts %v", got)
		}
		if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "every+" + staticDoc}); err != nil {
			t.Errorf("carol reads every+%s: %v", staticDoc, err)
		}
	})
	t.Run("refused looks exactly like missing", func(t *testing.T) {
		missingRead := readErr(ctx, t, as, "every+demo://resource/static/document/no-such.md")
		for _, c := range []struct {
			name string
			s    *sdk.ClientSession
			uri  string
		}{
			{"bob, an existing resource", bs, "every+" + staticDoc},
			{"bob, a templated resource", bs, "every+demo://resource/dynamic/text/3"},
			{"carol, another upstream's resource", cs, "everyhttp+" + staticDoc},
			{"alice, no such upstream", as, "nosuch+" + staticDoc},
			{"alice, no separator", as, staticDoc},
		} {
			if got := readErr(ctx, t, c.s, c.uri); got != missingRead {
				t.Errorf("%s: reading %s failed with %q, a missing resource with %q", c.name, c.uri, got, missingRead)
			}
		}
		missingPrompt := completeErr(ctx, t, as, &sdk.CompleteReference{Type: "ref/prompt", Name: "every__no-such-prompt"})
		for _, c := range []struct {
			name string
			s    *sdk.ClientSession
			ref  *sdk.CompleteReference
		}{
			{"bob, a prompt", bs, &sdk.CompleteReference{Type: "ref/prompt", Name: "every__completable-prompt"}},
			{"bob, a template", bs, &sdk.CompleteReference{Type: "ref/resource", URI: "every+demo://resource/dynamic/text/{resourceId}"}},
			{"carol, a prompt", cs, &sdk.CompleteReference{Type: "ref/prompt", Name: "every__completable-prompt"}},
			{"alice, no such template", as, &sdk.CompleteReference{Type: "ref/resource", URI: "every+demo://nothing/{x}"}},
		} {
			if got := completeErr(ctx, t, c.s, c.ref); got != missingPrompt {
				t.Errorf("%s: completion failed with %q, for a missing prompt with %q", c.name, got, missingPrompt)
			}
		}
		_, err := bs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "every__simple-prompt"})
		_, errMissing := as.GetPrompt(ctx, &sdk.GetPromptParams{Name: "every__no-such-prompt"})
		if err == nil || errMissing == nil || strings.ReplaceAll(err.Error(), "every__simple-prompt", "X") != strings.ReplaceAll(errMissing.Error(), "every__no-such-prompt", "X") {
			t.Errorf("bob's prompts/get failed with %v, a missing prompt with %v", err, errMissing)
		}
	})
	t.Run("every decision is an audit line with its kind", func(t *testing.T) {
		var denied int
		for _, l := range logs.JSONLines("resource_read") {
			if l["kind"] != "resource" {
				t.Errorf("resource_read line without kind resource: %v", l)
			}
			if l["decision"] == "deny" {
				denied++
			}
		}
		if denied < 3 {
			t.Errorf("%d denied resource_read lines, want at least 3", denied)
		}
		for _, msg := range []string{"completion", "prompt_get", "prompts_list", "resources_list", "resource_templates_list"} {
			if len(logs.JSONLines(msg)) == 0 {
				t.Errorf("no %s audit line", msg)
			}
		}
	})
}

// readErr is the error reading uri fails with.
func readErr(ctx context.Context, t *testing.T, s *sdk.ClientSession, uri string) string {
	t.Helper()
	_, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
	if err == nil {
		t.Fatalf("reading %s succeeded", uri)
	}
	return err.Error()
}

// completeErr is the error completing an argument of ref fails with.
func completeErr(ctx context.Context, t *testing.T, s *sdk.ClientSession, ref *sdk.CompleteReference) string {
	t.Helper()
	_, err := s.Complete(ctx, &sdk.CompleteParams{Ref: ref, Argument: sdk.CompleteParamsArgument{Name: "resourceId", Value: "1"}})
	if err == nil {
		t.Fatalf("completing %+v succeeded", ref)
	}
	return err.Error()
}

// TestBridgedFeaturesRevoked: revoking mid-session, by reloading the host's
// acl and by changing a tailnet grant, applies to the next request and
// stops the updates of an open subscription.
func TestBridgedFeaturesRevoked(t *testing.T) {
	tn := startTailnet(t)
	alice, carol := tn.callers()[0], tn.carolCaller()
	capName := tailcfg.PeerCapability(acl.DefaultCapability)
	tn.net.SetPeerCaps(carol.node.IP, tailcfg.PeerCapMap{capName: {`{"tools":["every__*"],"resources":["every+*"]}`}})
	defer tn.net.SetPeerCaps(carol.node.IP, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logs := &logBuffer{}
	rules := func(alice, bob caller) []aclRule {
		return []aclRule{{src: alice.login, tools: all, prompts: all, resources: all}}
	}
	host := startFeatureHost(ctx, t, tn, logs, rules)
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	uri := "every+" + staticDoc

	// subscribed opens a session for c subscribed to uri and waits for its
	// first update (server-everything sends one when the toggle tool is
	// called, then every 5 s).
	subscribed := func(t *testing.T, c caller) *sdk.ClientSession {
		t.Helper()
		updates := make(chan string, 100)
		s := featSession(ctx, t, endpoint, c, &sdk.ClientOptions{
			ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) { updates <- req.Params.URI },
		})
		subCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); s.Subscribe(subCtx, &sdk.SubscribeParams{URI: uri}) }()
		t.Cleanup(func() { stop(); wg.Wait() })
		waitAudit(ctx, t, logs, "resource_subscribe", uri, 1)
		return s
	}
	// toggleTwice restarts server-everything's simulated updates, which sends
	// one update of every subscribed URI at once.
	toggleTwice := func(t *testing.T, s *sdk.ClientSession) {
		t.Helper()
		for range 2 {
			if res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: "every__toggle-subscriber-updates"}); err != nil || res.IsError {
				t.Fatalf("toggle: %v %+v", err, res)
			}
		}
	}
	// deliveries counts the resource_updated audit lines of who (a login
	// or node name substring) with decision.
	deliveries := func(who, decision string) int {
		n := 0
		for _, l := range logs.JSONLines("resource_updated") {
			caller, _ := l["caller"].(map[string]any)
			if l["decision"] == decision && (caller["user"] == who || strings.HasPrefix(caller["node"].(string), who+".")) {
				n++
			}
		}
		return n
	}
	waitDenied := func(t *testing.T, who string) {
		t.Helper()
		for deliveries(who, "deny") == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("no refused update delivery for %s", who)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	t.Run("reloaded acl", func(t *testing.T) {
		s := subscribed(t, alice)
		toggleTwice(t, s)
		for deliveries(alice.login, "allow") == 0 {
			select {
			case <-ctx.Done():
				t.Fatal("alice's update was never delivered")
			case <-time.After(20 * time.Millisecond):
			}
		}
		cfg := testConfig(tn.net.ControlURL)
		cfg.ACL.Rules = toRules([]aclRule{{src: alice.login, tools: all, prompts: all}})
		if err := host.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		allowed := deliveries(alice.login, "allow")
		if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err == nil {
			t.Error("alice still reads the resource after the reload")
		}
		if got := sdkResourceURIs(ctx, t, s); len(got) != 0 {
			t.Errorf("alice still lists %v", got)
		}
		toggleTwice(t, s)
		waitDenied(t, alice.login)
		if got := deliveries(alice.login, "allow"); got != allowed {
			t.Errorf("%d updates delivered to alice after the reload", got-allowed)
		}
	})
	t.Run("tailnet grant revoked", func(t *testing.T) {
		s := subscribed(t, carol)
		if _, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri}); err != nil {
			t.Fatalf("carol cannot read with her grant: %v", err)
		}
		tn.net.SetPeerCaps(carol.node.IP, nil)
		tn.net.Reconnect()
		for {
			_, err := s.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
			if err != nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("carol still reads after her grant was revoked")
			case <-time.After(50 * time.Millisecond):
			}
		}
		allowed := deliveries("carol", "allow")
		// carol may no longer call the tool either; alice toggles the
		// shared child.
		toggleTwice(t, featSession(ctx, t, endpoint, alice, nil))
		waitDenied(t, "carol")
		if got := deliveries("carol", "allow"); got != allowed {
			t.Errorf("%d updates delivered to carol after her grant was revoked", got-allowed)
		}
	})
}
