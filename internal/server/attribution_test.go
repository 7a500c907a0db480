package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// Attribution: a message an upstream sends on its own goes to the session
// whose request caused it, exactly, or to no caller (docs/bridging.md,
// "Attribution"). These tests try to get one identity's messages to another.

// callsHTTPUpstream starts interop/ts/calls-server.mjs (the official
// TypeScript SDK over Streamable HTTP: what it sends about a call travels on
// the call's own response stream) and returns its /mcp URL. (mcp-go's
// server is no such upstream: it hands a session's notifications to
// whichever of its streams reads first.)
func callsHTTPUpstream(t *testing.T) string {
	t.Helper()
	node, dir := testutil.TypeScriptSDK(t)
	cmd := exec.Command(node, filepath.Join(dir, "calls-server.mjs"))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var addr struct{ Port int }
	if err := json.NewDecoder(out).Decode(&addr); err != nil || addr.Port == 0 {
		t.Fatalf("calls-server.mjs did not say its port: %v", err)
	}
	return fmt.Sprintf("http://127.0.0.1:%d/mcp", addr.Port)
}

// hearEveryLevel asks, as cl, for log messages of every level.
func hearEveryLevel(ctx context.Context, t *testing.T, cl *mcpgoclient.Client) {
	t.Helper()
	req := mcp.SetLevelRequest{}
	req.Params.Level = mcp.LoggingLevelDebug
	if err := cl.SetLevel(ctx, req); err != nil {
		t.Fatal(err)
	}
}

// hearEveryLevelSDK is hearEveryLevel for a go-sdk session.
func hearEveryLevelSDK(ctx context.Context, t *testing.T, s *sdk.ClientSession) {
	t.Helper()
	if err := s.SetLoggingLevel(ctx, &sdk.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits for path to exist and returns its content.
func waitFile(ctx context.Context, t *testing.T, path string) string {
	t.Helper()
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", path)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestLateUpstreamMessagesReachNoOne: on a shared stdio child, a log
// message and an elicitation request the child sends after alice's call
// has returned are not alice's call's any more, and they are not bob's,
// although bob's unrelated call is the only one in flight: the message goes
// to tsmcp's log and the request is refused.
func TestLateUpstreamMessagesReachNoOne(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint, logs := callsHost(ctx, t, tn)

	var ah, bh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &bh)
	hearEveryLevel(ctx, t, alice)
	hearEveryLevelSDK(ctx, t, bob)
	path := filepath.Join(t.TempDir(), "go")
	if text, isErr := mcpgoCall(ctx, t, alice, "rt__late", "", map[string]any{"label": "alice-late", "path": path}); isErr || text != "scheduled" {
		t.Fatalf("rt__late = %q", text)
	}
	done := goText(func() (string, bool, error) {
		return sdkTry(ctx, bob, "rt__gate", "b", map[string]any{"name": "late", "label": "bob"})
	})
	bh.waitFor(ctx, t, "bob's call in flight", &bh.progress, only("b bob"))
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := waitFile(ctx, t, path+".out"); got != "elicitation failed" {
		t.Errorf("the child's late elicitation = %q, want it refused", got)
	}
	for !slices.ContainsFunc(logs.JSONLines("upstream log message"), func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["data"]), "alice-late")
	}) {
		select {
		case <-ctx.Done():
			t.Fatal("the late log message never reached tsmcp's log")
		case <-time.After(20 * time.Millisecond):
		}
	}
	mcpgoCall(ctx, t, alice, "rt__open", "", map[string]any{"name": "late"})
	if got := <-done; got != "passed" {
		t.Fatalf("bob's gate = %q", got)
	}
	for who, h := range map[string]*heard{"alice": &ah, "bob": &bh} {
		if got := append(h.snapshot(&h.logs), h.snapshot(&h.elicited)...); len(got) != 0 {
			t.Errorf("%s got %q, want nothing", who, got)
		}
	}
	if n := len(logs.JSONLines("upstream request refused: it cannot be attributed to the call that caused it (not on a call's own stream, and the session is shared by several identities or has several caller sessions in flight)")); n != 1 {
		t.Errorf("%d refusals logged, want 1", n)
	}
}

// TestRemoteCallStreamAttribution: over a shared Streamable HTTP session,
// a log message and an elicitation request on a call's own response stream
// reach that caller, with another identity's call in flight on the same
// session, and never the other caller.
func TestRemoteCallStreamAttribution(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := callsHTTPUpstream(t)
	endpoint, _ := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{{Name: "rh", URL: url, Timeout: 5 * time.Second}}
	})
	var ah, bh heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	bob := sdkPeer(ctx, t, endpoint, cs[1], mcp.LATEST_LEGACY_PROTOCOL_VERSION, "bob", &bh)
	hearEveryLevel(ctx, t, alice)
	hearEveryLevelSDK(ctx, t, bob)
	done := goText(func() (string, bool, error) {
		return sdkTry(ctx, bob, "rh__gate", "b", map[string]any{"name": "rh", "label": "bob"})
	})
	bh.waitFor(ctx, t, "bob's call in flight", &bh.progress, only("b bob"))
	if text, isErr := mcpgoCall(ctx, t, alice, "rh__log", "", map[string]any{"label": "alice-own"}); isErr || text != "logged" {
		t.Fatalf("rh__log = %q", text)
	}
	ah.waitFor(ctx, t, "alice hears her log message", &ah.logs, func(got []string) bool {
		return slices.Equal(got, []string{"alice-own"})
	})
	if text, isErr := mcpgoCall(ctx, t, alice, "rh__elicit", "", map[string]any{"label": "alice-q"}); isErr || text != `accept {"name":"answer-from-alice"}` {
		t.Fatalf("rh__elicit = %q (isError %v)", text, isErr)
	}
	mcpgoCall(ctx, t, alice, "rh__open", "", map[string]any{"name": "rh"})
	if got := <-done; got != "passed" {
		t.Fatalf("bob's gate = %q", got)
	}
	if got := append(bh.snapshot(&bh.logs), bh.snapshot(&bh.elicited)...); len(got) != 0 {
		t.Errorf("bob got %q, want nothing", got)
	}
}

// TestParkedRoundTripsPerIdentity: a stateless (2026-07-28) caller whose
// calls stop at input_required and who never answers parks at most
// maxWaitingPerIdentity (16) of them; the next is refused, and another
// identity's elicitation on the same shared upstream still goes through.
func TestParkedRoundTripsPerIdentity(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := callsHTTPUpstream(t)
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{{Name: "rh", URL: url, Timeout: 5 * time.Second}}
	})
	bob := rawStatelessPeer(ctx, t, endpoint, cs[1], "parker")
	const perIdentity = 16
	for i := range perIdentity {
		res, err := bob.CallTool(ctx, &sdk.CallToolParams{Name: "rh__elicit", Arguments: map[string]any{"label": fmt.Sprint("bob-", i)}})
		if err != nil || res.RequestState == "" {
			t.Fatalf("bob's call %d = %+v, %v; want input_required", i, res, err)
		}
	}
	res, err := bob.CallTool(ctx, &sdk.CallToolParams{Name: "rh__elicit", Arguments: map[string]any{"label": "bob-over"}})
	if err != nil || res.RequestState != "" || !res.IsError {
		t.Fatalf("bob's call over the limit = %+v, %v; want a tool error", res, err)
	}
	var ah heard
	alice := mcpgoPeer(ctx, t, endpoint, cs[0], "alice", &ah)
	if text, isErr := mcpgoCall(ctx, t, alice, "rh__elicit", "", map[string]any{"label": "alice-q"}); isErr || text != `accept {"name":"answer-from-alice"}` {
		t.Fatalf("alice's elicitation with bob's calls parked = %q (isError %v)", text, isErr)
	}
	if n := len(logs.JSONLines("upstream request refused: too many calls wait for their callers' input")); n != 1 {
		t.Errorf("%d refusals logged, want 1", n)
	}
}

// TestAttributionProperty: with several callers (two identities, three
// sessions) calling concurrently in a random interleaving on a shared
// stdio child and a shared Streamable HTTP upstream, with late messages
// and messages no call caused, every message a caller receives was caused
// by that caller's own call, and every message exactly attributable (on a
// call's own stream) reaches its caller.
func TestAttributionProperty(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	url := callsHTTPUpstream(t)
	endpoint, _ := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{callsUpstream(t, "rt", "", 5*time.Second), {Name: "rh", URL: url, Timeout: 5 * time.Second}}
	})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	type peer struct {
		name string
		h    *heard
		call func(tool string, args map[string]any) (string, bool, error)
	}
	var peers []peer
	for i, who := range []string{"alice", "bob", "carol"} {
		h := &heard{}
		c := cs[0]
		if who == "bob" {
			c = cs[1]
		}
		if i == 1 {
			s := sdkPeer(ctx, t, endpoint, c, mcp.LATEST_LEGACY_PROTOCOL_VERSION, who, h)
			hearEveryLevelSDK(ctx, t, s)
			peers = append(peers, peer{who, h, func(tool string, args map[string]any) (string, bool, error) {
				return sdkTry(ctx, s, tool, "", args)
			}})
			continue
		}
		cl := mcpgoPeer(ctx, t, endpoint, c, who, h)
		hearEveryLevel(ctx, t, cl)
		peers = append(peers, peer{who, h, func(tool string, args map[string]any) (string, bool, error) {
			return mcpgoTry(ctx, cl, tool, "", args)
		}})
	}
	dir := t.TempDir()
	const opsPerPeer = 16
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		lates     []string
		wantLogs  = map[string][]string{}
		wantAsked = map[string][]string{}
	)
	for pi, p := range peers {
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(pi)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range opsPerPeer {
				label := fmt.Sprintf("%s-%d", p.name, n)
				var tool string
				args := map[string]any{"label": label}
				switch rng.IntN(5) {
				case 0:
					tool = "rh__log"
					mu.Lock()
					wantLogs[p.name] = append(wantLogs[p.name], label)
					mu.Unlock()
				case 1:
					tool = "rh__elicit"
					mu.Lock()
					wantAsked[p.name] = append(wantAsked[p.name], label)
					mu.Unlock()
				case 2:
					tool = "rt__log"
				case 3:
					tool = "rt__elicit"
				case 4:
					tool = "rt__late"
					args["path"] = filepath.Join(dir, label)
					mu.Lock()
					lates = append(lates, args["path"].(string))
					mu.Unlock()
				}
				if _, _, err := p.call(tool, args); err != nil {
					t.Errorf("%s %s: %v", p.name, tool, err)
					return
				}
				// Release some late messages while calls are in flight.
				if rng.IntN(3) == 0 {
					mu.Lock()
					for _, l := range lates {
						_ = os.WriteFile(l, nil, 0o600)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, l := range lates {
		_ = os.WriteFile(l, nil, 0o600)
	}
	for _, l := range lates {
		if got := waitFile(ctx, t, l+".out"); got != "elicitation failed" {
			t.Errorf("late elicitation %s = %q, want it refused", filepath.Base(l), got)
		}
	}
	for _, p := range peers {
		for _, list := range []*[]string{&p.h.logs, &p.h.elicited} {
			for _, got := range p.h.snapshot(list) {
				if !strings.HasPrefix(got, p.name+"-") {
					t.Errorf("%s received %q, caused by another caller", p.name, got)
				}
			}
		}
		p.h.waitFor(ctx, t, p.name+" hears each of its rh__log messages", &p.h.logs, func(got []string) bool {
			return slices.Equal(sorted(got), sorted(wantLogs[p.name]))
		})
		if got := p.h.snapshot(&p.h.elicited); !slices.Equal(sorted(got), sorted(wantAsked[p.name])) {
			t.Errorf("%s was asked %q, want %q", p.name, got, wantAsked[p.name])
		}
	}
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestParkedRoundTripExpires: a stateless caller who never answers holds
// its parked call for mcp.limits.input_wait only: then the upstream's
// request is refused, the call cancelled, and a late answer is refused.
func TestParkedRoundTripExpires(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := callsHTTPUpstream(t)
	endpoint, logs := callsHostWith(ctx, t, tn, func(c *config.Config) {
		c.Upstreams = []config.Upstream{{Name: "rh", URL: url, Timeout: 5 * time.Second}}
		c.MCP.Limits.InputWait = time.Second
	})
	bob := rawStatelessPeer(ctx, t, endpoint, cs[1], "parker")
	res, err := bob.CallTool(ctx, &sdk.CallToolParams{Name: "rh__elicit", Arguments: map[string]any{"label": "bob-late"}})
	if err != nil || res.RequestState == "" || len(res.InputRequests) != 1 {
		t.Fatalf("bob's call = %+v, %v; want input_required", res, err)
	}
	for len(logs.JSONLines("upstream request refused: the caller did not answer in time")) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the parked call never expired")
		case <-time.After(50 * time.Millisecond):
		}
	}
	answer := sdk.InputResponseMap{}
	for id := range res.InputRequests {
		answer[id] = &sdk.ElicitResult{Action: "accept", Content: map[string]any{"name": "too-late"}}
	}
	late, err := bob.CallTool(ctx, &sdk.CallToolParams{Name: "rh__elicit", Arguments: map[string]any{"label": "bob-late"},
		RequestState: res.RequestState, InputResponses: answer})
	if err != nil || !late.IsError {
		t.Fatalf("bob's late answer = %+v, %v; want a tool error", late, err)
	}
}
