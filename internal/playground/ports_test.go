package playground_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// freeBase returns a port p such that p..p+3 are free now.
func freeBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base > 65535-playground.HealthPortOffset {
			continue
		}
		ok := true
		for off := 0; off <= playground.HealthPortOffset && ok; off++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no four consecutive free ports")
	return 0
}

// runPlayground starts the playground and returns its endpoints once
// ready, and a function that stops it and checks Run's result.
func runPlayground(t *testing.T, opts playground.Options) (playground.Endpoints, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if opts.EndpointsFile == "" {
		opts.EndpointsFile = filepath.Join(t.TempDir(), "endpoints.json")
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Out == nil {
		opts.Out = &testutil.Buffer{}
	}
	done := make(chan error, 1)
	go func() { done <- playground.Run(ctx, opts) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("playground did not stop")
		}
	}
	eps, ok := readEndpoints(t, opts.EndpointsFile, done, func(playground.Endpoints) bool { return true })
	if !ok {
		stop()
		t.FailNow()
	}
	return eps, stop
}

// readEndpoints polls file until it holds endpoints that satisfy cond.
func readEndpoints(t *testing.T, file string, done <-chan error, cond func(playground.Endpoints) bool) (playground.Endpoints, bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var eps playground.Endpoints
		if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &eps) == nil && cond(eps) {
			return eps, true
		}
		select {
		case err := <-done:
			t.Errorf("playground stopped: %v", err)
			return eps, false
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Error("endpoints file did not reach the expected state in time")
	return playground.Endpoints{}, false
}

// toolsOf lists the tools the endpoint's identity sees.
func toolsOf(ctx context.Context, t *testing.T, endpoint string) []string {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "playground-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// TestPlaygroundStablePorts starts the playground twice with the same
// --port: each identity's endpoint and the health listener are at the
// documented offsets both times, so client settings survive a restart.
func TestPlaygroundStablePorts(t *testing.T) {
	base := freeBase(t)
	want := map[string]string{}
	for name, off := range playground.PortOffsets {
		want[name] = "http://127.0.0.1:" + strconv.Itoa(base+off) + "/mcp"
	}
	wantHealth := "http://127.0.0.1:" + strconv.Itoa(base+playground.HealthPortOffset) + "/health"
	for run := 1; run <= 2; run++ {
		out := &testutil.Buffer{}
		eps, stop := runPlayground(t, playground.Options{Port: base, Out: out})
		for _, id := range eps.Identities {
			if id.MCP != want[id.Name] {
				t.Errorf("run %d: %s at %s, want %s", run, id.Name, id.MCP, want[id.Name])
			}
			if id.Page != "http://127.0.0.1:"+strconv.Itoa(base+playground.PortOffsets[id.Name])+"/" {
				t.Errorf("run %d: %s page %s", run, id.Name, id.Page)
			}
		}
		if eps.Health != wantHealth {
			t.Errorf("run %d: health %s, want %s", run, eps.Health, wantHealth)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if got := toolsOf(ctx, t, want["alice"]); !slices.Contains(got, "whoami") {
			t.Errorf("run %d: alice's tools %v lack whoami", run, got)
		}
		cancel()
		stop()
		banner := out.String()
		for _, s := range []string{`"args": ["connect", "` + want["alice"] + `"]`, "Via Proxy", eps.Identities[1].Page} {
			if !strings.Contains(banner, s) {
				t.Errorf("run %d: banner lacks %q:\n%s", run, s, banner)
			}
		}
	}
}

// TestPlaygroundReload starts the playground with --config and changes
// the file: bob, who could call nothing, may call whoami at once, in the
// endpoints file, on the printed output and for a real MCP client.
func TestPlaygroundReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tsmcp.yaml")
	// alice joins second (user-2); bob third (user-3).
	before := "acl:\n  rules:\n    - src: [\"" + devnet.Login(2) + "\"]\n      tools: [\"*\"]\n      prompts: [\"docs__*\"]\n      resources: [\"docs+*\"]\n"
	after := before + "    - src: [\"*\"]\n      tools: [whoami]\n"
	if err := os.WriteFile(file, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	eps, stop := runPlayground(t, playground.Options{Config: cfg, ConfigFile: file, Out: out})
	defer stop()
	bob := eps.Identities[1]
	if bob.Name != "bob" || len(bob.MayCall) != 0 {
		t.Fatalf("before the change bob = %+v, want may call nothing", bob)
	}
	if alice := eps.Identities[0]; !slices.Equal(alice.MayGetPrompts, []string{"docs__*"}) || !slices.Equal(alice.MayReadResources, []string{"docs+*"}) {
		t.Errorf("alice may get prompts %q and read resources %q, want docs__* and docs+*", alice.MayGetPrompts, alice.MayReadResources)
	}
	if !strings.Contains(out.String(), "alice may also get prompts docs__* and read resources docs+* (local rules)") {
		t.Errorf("banner does not show alice's prompts and resources:\n%s", out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := toolsOf(ctx, t, bob.MCP); len(got) != 0 {
		t.Fatalf("before the change bob sees %v, want nothing", got)
	}

	if err := os.WriteFile(file, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload reported:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "bob: whoami") {
		t.Errorf("reload output does not say bob may call whoami:\n%s", out.String())
	}
	if got := toolsOf(ctx, t, bob.MCP); !slices.Equal(got, []string{"whoami"}) {
		t.Errorf("after the change bob sees %v, want [whoami]", got)
	}
}
