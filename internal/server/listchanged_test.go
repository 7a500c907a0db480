package server_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// listChanges records the list_changed notifications one client got.
type listChanges struct {
	mu  sync.Mutex // guards the field below
	got []string
}

func (l *listChanges) add(method string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, method)
}

func (l *listChanges) has(methods ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range methods {
		if !slices.Contains(l.got, m) {
			return false
		}
	}
	return true
}

// options are go-sdk client options recording into l.
func (l *listChanges) options() *sdk.ClientOptions {
	return &sdk.ClientOptions{
		ToolListChangedHandler:     func(context.Context, *sdk.ToolListChangedRequest) { l.add("tools") },
		PromptListChangedHandler:   func(context.Context, *sdk.PromptListChangedRequest) { l.add("prompts") },
		ResourceListChangedHandler: func(context.Context, *sdk.ResourceListChangedRequest) { l.add("resources") },
	}
}

// wait waits until l has every one of methods, failing the test if ctx
// ends first.
func (l *listChanges) wait(ctx context.Context, t *testing.T, who string, methods ...string) {
	t.Helper()
	for !l.has(methods...) {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("%s: list_changed got %v, want %v", who, l.got, methods)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestReloadSendsListChanged: a policy reload changes what callers may
// see without any list changing; every connected session is told
// (tools, prompts and resources list_changed), and a re-list shows the
// new policy's view.
func TestReloadSendsListChanged(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, _ := startBigHost(ctx, t, tn, "listchanged-reload", nil)
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	var aliceHeard, bobHeard listChanges
	as := featSession(ctx, t, endpoint, cs[0], aliceHeard.options())
	featSession(ctx, t, endpoint, cs[1], bobHeard.options())
	if n := len(withoutBuiltins(collect(t, as.Tools(ctx, nil), func(x *sdk.Tool) string { return x.Name }))); n != bigTools/2 {
		t.Fatalf("alice lists %d tools before the reload, want %d", n, bigTools/2)
	}

	cfg := testConfig(tn.net.ControlURL)
	cfg.ACL.Rules = toRules([]aclRule{{src: "*", tools: []string{"big__*"}, prompts: []string{"big__*"}, resources: []string{"big+*"}}})
	if err := host.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	aliceHeard.wait(ctx, t, "alice", "tools", "prompts", "resources")
	bobHeard.wait(ctx, t, "bob", "tools", "prompts", "resources")
	want := wantBig(false)
	checkOnceEach(t, "alice's tools after the reload", withoutBuiltins(collect(t, as.Tools(ctx, nil), func(x *sdk.Tool) string { return x.Name })), want.tools)
	checkOnceEach(t, "alice's resources after the reload", collect(t, as.Resources(ctx, nil), func(x *sdk.Resource) string { return x.URI }), want.resources)
}
