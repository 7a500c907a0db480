package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// typeScriptThroughService runs the official TypeScript SDK client
// (interop/ts/client.mjs, the one the interop tests run against `tsmcp
// dev`) against the Service name as alice, over Streamable HTTP and legacy
// SSE: it must list and call whoami and be seen as alice's own node.
// Node.js cannot join the in-process tailnet, so it talks to a loopback
// reverse proxy that dials through alice's tsnet node and names the
// Service in Host: what the replicas see is alice's tailnet connection to
// the Service, as from any client on alice's machine.
func typeScriptThroughService(ctx context.Context, t *testing.T, rs *replicaSet) {
	t.Helper()
	node, tsDir := testutil.TypeScriptSDK(t)

	base := "http://" + serveLoopback(t, relayThrough(t, rs.alice, testServiceURL))
	eps, err := json.Marshal(map[string]any{
		"host": testService,
		"identities": []map[string]any{{
			"name":  "svc-alice", // whoami's node must start with "svc-alice."
			"login": rs.alice.login,
			"tags":  []string{},
			"mcp":   base + "/mcp",
			"sse":   base + "/sse",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "endpoints.json")
	if err := os.WriteFile(file, eps, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", file)
	cmd.Dir = tsDir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TypeScript SDK client through %s: %v\n%s", testService, err, out)
	}
	t.Logf("TypeScript SDK client through %s:\n%s", testService, out)
}
