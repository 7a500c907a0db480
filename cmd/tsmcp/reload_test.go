package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestConfigReloadChangesAccess edits the config file of a running
// `tsmcp serve` process and checks, through one open MCP session of a real
// client on the tailnet, that a valid change grants and revokes access
// without a restart and an invalid one is refused, logged, and leaves the
// policy as it was.
func TestConfigReloadChangesAccess(t *testing.T) {
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	nobody := "acl:\n  rules:\n    - src: [nobody@example.com]\n      tools: [whoami]\n"
	h := startServe(ctx, t, n, "reload", nobody)

	alice, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	lc, err := alice.LocalClient()
	if err != nil {
		t.Fatal(err)
	}
	st, err := lc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	login := st.User[st.Self.UserID].LoginName

	// Legacy SSE: one stream and one sessionId for the whole test, so
	// every change is seen mid-session.
	cl, err := mcpgoclient.NewSSEMCPClient("http://"+h.hostIP+"/sse", mcpgotransport.WithHTTPClient(alice.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	testutil.StartMCPGo(ctx, t, cl, "reload-test")
	listed := func() []string {
		t.Helper()
		return testutil.MCPGoToolNames(ctx, t, cl)
	}
	call := func() error {
		req := mcp.CallToolRequest{}
		req.Params.Name = "whoami"
		_, err := cl.CallTool(ctx, req)
		return err
	}
	// edit rewrites the config file (by rename, as editors and Kubernetes
	// do) and waits until the host has logged one more reload outcome.
	edit := func(acl string) {
		t.Helper()
		before := strings.Count(h.stderr.String(), "access policy reloaded") + strings.Count(h.stderr.String(), "config change refused")
		tmp := filepath.Join(filepath.Dir(h.cfgFile), ".edit")
		if err := os.WriteFile(tmp, []byte(h.cfgStart+acl), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, h.cfgFile); err != nil {
			t.Fatal(err)
		}
		for {
			logs := h.stderr.String()
			if strings.Count(logs, "access policy reloaded")+strings.Count(logs, "config change refused") > before {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatal("the host logged no reload after the edit")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	if got := listed(); len(got) != 0 {
		t.Fatalf("before any edit, alice lists %v, want nothing", got)
	}
	if err := call(); err == nil {
		t.Fatal("before any edit, alice's whoami call succeeded")
	}

	edit("acl:\n  rules:\n    - src: [" + login + "]\n      tools: [whoami]\n")
	if got := listed(); !slices.Equal(got, []string{"whoami"}) {
		t.Fatalf("after granting alice whoami, she lists %v", got)
	}
	if err := call(); err != nil {
		t.Fatalf("after granting alice whoami, the call failed: %v", err)
	}

	edit("acl:\n  rules:\n    - src: [group:undefined]\n      tools: [whoami]\n")
	if !strings.Contains(h.stderr.String(), "acl.rules[0].src[0]") {
		t.Errorf("the refused change's log does not name the key acl.rules[0].src[0]")
	}
	if got := listed(); !slices.Equal(got, []string{"whoami"}) {
		t.Fatalf("after an invalid edit, alice lists %v, want the old policy's [whoami]", got)
	}

	edit(nobody)
	if got := listed(); len(got) != 0 {
		t.Fatalf("after revoking, alice lists %v in her open session, want nothing", got)
	}
	if err := call(); err == nil {
		t.Fatal("after revoking, alice's whoami call in her open session succeeded")
	}
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
}
