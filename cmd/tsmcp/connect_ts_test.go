package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// tsConnectResult is what interop/ts/connect.mjs prints.
type tsConnectResult struct {
	Mode     string    `json:"mode"`
	Tools    []string  `json:"tools"`
	WhoAmI   whoamiRaw `json:"whoami"`
	Count    string    `json:"count"`
	Progress []float64 `json:"progress"`
	Error    string    `json:"error"`
}

type whoamiRaw struct {
	Login string   `json:"login"`
	Node  string   `json:"node"`
	Tags  []string `json:"tags"`
}

// runTSConnect runs connect.mjs, which spawns `tsmcp connect --tsnet`
// (this test binary running main) with the official TypeScript SDK's
// StdioClientTransport, in mode "ok" or "down".
func runTSConnect(ctx context.Context, t *testing.T, n *devnet.Network, hostname, url, mode string) tsConnectResult {
	t.Helper()
	node, tsDir := testutil.TypeScriptSDK(t)
	cmd, _ := connectCommand(t, n, hostname, url)
	env := map[string]string{}
	for _, kv := range cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	spec, err := json.Marshal(map[string]any{"command": cmd.Path, "args": cmd.Args[1:], "env": env, "mode": mode})
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specFile, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(ctx, node, "connect.mjs", specFile)
	run.Dir = tsDir
	run.WaitDelay = 5 * time.Second
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("connect.mjs (%s): %v\n%s", mode, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var res tsConnectResult
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatalf("connect.mjs result %q: %v", rest, err)
			}
			t.Logf("connect.mjs (%s): %s", mode, rest)
			return res
		}
	}
	t.Fatalf("connect.mjs printed no result:\n%s", out)
	return tsConnectResult{}
}

// TestConnectTypeScriptSDK runs `tsmcp connect --tsnet` under the official
// TypeScript SDK's StdioClientTransport against a host on the in-process
// tailnet: the client lists and calls tools, sees its own identity in
// whoami and receives progress; with the host stopped, connecting fails
// with the relay's error saying the host cannot be reached.
func TestConnectTypeScriptSDK(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host := startConnectHost(ctx, t, n, t.TempDir())
	url := "http://" + host.srv.TailnetIP().String() + "/mcp"

	res := runTSConnect(ctx, t, n, "tssdk", url, "ok")
	if want := []string{"ask", "count", "release", "whoami"}; !slices.Equal(res.Tools, want) {
		t.Errorf("tools = %v, want %v", res.Tools, want)
	}
	if !strings.HasPrefix(res.WhoAmI.Login, "user-") || !strings.HasPrefix(res.WhoAmI.Node, "tssdk") || len(res.WhoAmI.Tags) != 0 {
		t.Errorf("whoami = %+v, want the connect node tssdk's own user login", res.WhoAmI)
	}
	if res.Count != "counted to 3" {
		t.Errorf("count = %q", res.Count)
	}
	slices.Sort(res.Progress)
	if !slices.Equal(res.Progress, []float64{1, 2, 3}) {
		t.Errorf("progress = %v, want [1 2 3]", res.Progress)
	}

	host.stop(t)
	down := runTSConnect(ctx, t, n, "tssdk-down", url, "down")
	if !strings.Contains(down.Error, "tsmcp connect: cannot reach the host") {
		t.Errorf("with the host down: error %q, want the relay's \"cannot reach the host\"", down.Error)
	}
}
