package examples

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestPerIdentityChildrenKeepCallersApart runs per-identity-children.yaml
// as `tsmcp dev --config` does (an in-process tailnet, the host, a
// loopback endpoint per demo identity), with the real
// @modelcontextprotocol/server-memory, and has alice and bob each store an
// entity: neither sees the other's, and nothing lands in the file the
// server would share between them (its default, next to its code).
func TestPerIdentityChildrenKeepCallersApart(t *testing.T) {
	bin := testutil.MemoryBin(t)
	shared := filepath.Join(filepath.Dir(mustEvalSymlinks(t, bin)), "memory.jsonl")
	before, _ := os.ReadFile(shared) // left by other runs, if any
	cfg, err := config.Load(config.LoadOptions{File: "per-identity-children.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	up := &cfg.Upstreams[0]
	if want := []string{"npx", "-y", "@modelcontextprotocol/server-memory"}; up.Name != "memory" || !slices.Equal(up.Command, want) {
		t.Fatalf("upstream %s runs %v; this test expects memory running %v (update it with the example)", up.Name, up.Command, want)
	}
	// The same server, installed by `npm ci --prefix interop/ts` rather
	// than fetched by npx at run time; everything else as in the file.
	up.Command = []string{bin}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	epFile := filepath.Join(t.TempDir(), "endpoints.json")
	done := make(chan error, 1)
	go func() {
		done <- playground.Run(ctx, playground.Options{
			Config:        cfg,
			Out:           io.Discard,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
			EndpointsFile: epFile,
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("playground: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("playground did not stop")
		}
	}()
	eps := waitEndpoints(t, epFile, done)

	sessions := map[string]*sdk.ClientSession{}
	client := sdk.NewClient(&sdk.Implementation{Name: "examples-test", Version: "1"}, nil)
	for _, id := range eps.Identities {
		if id.Name != "alice" && id.Name != "bob" {
			continue
		}
		cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: id.MCP, MaxRetries: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		sessions[id.Name] = cs
	}
	alice, bob := sessions["alice"], sessions["bob"]
	if alice == nil || bob == nil {
		t.Fatalf("identities %+v lack alice or bob", eps.Identities)
	}
	waitTool(ctx, t, alice, "memory__create_entities")

	call := func(cs *sdk.ClientSession, tool string, args any) string {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		res, err := cs.CallTool(cctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		b, _ := json.Marshal(res)
		if res.IsError {
			t.Fatalf("%s: tool error %s", tool, b)
		}
		return string(b)
	}
	entity := func(name string) map[string]any {
		return map[string]any{"entities": []any{map[string]any{
			"name": name, "entityType": "note", "observations": []any{"kept for " + name},
		}}}
	}
	call(alice, "memory__create_entities", entity("alice-private-note"))
	call(bob, "memory__create_entities", entity("bob-private-note"))

	for _, tc := range []struct {
		name       string
		cs         *sdk.ClientSession
		own, other string
	}{
		{name: "alice sees only her entity", cs: alice, own: "alice-private-note", other: "bob-private-note"},
		{name: "bob sees only his entity", cs: bob, own: "bob-private-note", other: "alice-private-note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			graph := call(tc.cs, "memory__read_graph", map[string]any{})
			if !strings.Contains(graph, tc.own) {
				t.Errorf("graph lacks %s: %s", tc.own, graph)
			}
			if strings.Contains(graph, tc.other) {
				t.Errorf("graph holds the other caller's %s: %s", tc.other, graph)
			}
		})
	}
	if after, _ := os.ReadFile(shared); string(after) != string(before) {
		t.Errorf("the server's shared default file %s was written", shared)
	}
}

func mustEvalSymlinks(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitEndpoints waits for the playground's endpoints file.
func waitEndpoints(t *testing.T, file string, done <-chan error) playground.Endpoints {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if b, err := os.ReadFile(file); err == nil {
			var eps playground.Endpoints
			if err := json.Unmarshal(b, &eps); err != nil {
				t.Fatal(err)
			}
			return eps
		}
		select {
		case err := <-done:
			t.Fatalf("playground stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no endpoints file")
		}
	}
}

// waitTool waits until cs lists tool: the upstream's first listing may
// come after the host is ready.
func waitTool(ctx context.Context, t *testing.T, cs *sdk.ClientSession, tool string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range res.Tools {
			if tl.Name == tool {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listed", tool)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
