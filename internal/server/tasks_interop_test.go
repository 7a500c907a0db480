package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// tasksInstall installs what TestTasksTypeScriptSDK needs.
const tasksInstall = "npm ci --prefix interop/tasks"

// tasksDir returns interop/tasks, where `npm ci --prefix interop/tasks`
// installs the official TypeScript SDK v2 client and server-everything
// (pinned by its package-lock.json). When they are missing the test
// fails if CI is set (.ci/run installs them) and is skipped otherwise
// (testutil.MissingTool).
func tasksDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "interop", "tasks")
	for _, f := range []string{
		"node_modules/.bin/mcp-server-everything",
		"node_modules/@modelcontextprotocol/client/package.json",
		"node_modules/zod/package.json",
	} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			testutil.MissingTool(t, "interop/tasks is not installed ("+f+")", tasksInstall)
		}
	}
	return dir
}

// callerRelay serves hostURL's /mcp on loopback, relayed through c's
// tailnet node, so that a client outside the tailnet (node) reaches tsmcp
// as c. It returns the relay's /mcp URL.
func callerRelay(t *testing.T, hostURL string, c caller) string {
	t.Helper()
	return "http://" + serveLoopback(t, relayThrough(t, c, hostURL)) + "/mcp"
}

// TestTasksTypeScriptSDK: MCP Tasks end to end with the official
// TypeScript SDK v2 client (interop/tasks/tasks.mjs) against
// server-everything's simulate-research-query (execution.taskSupport
// "required") bridged by tsmcp, as one shared child and as one child per
// identity: alice creates a task, polls it, fetches its result, hears its
// status, and cancels another, each on the child that serves her; bob
// (on the same shared child) can neither list nor get, fetch or cancel
// her tasks, and gets exactly the answers to an unknown task. A client that
// negotiates 2026-07-28 ("auto"), where the host serves no tasks, is not
// offered the tool.
func TestTasksTypeScriptSDK(t *testing.T) {
	dir := tasksDir(t)
	node := testutil.NeedTool(t, "node", testutil.NodeInstall)
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := filepath.Join(dir, "node_modules", ".bin", "mcp-server-everything")
	ups := []config.Upstream{
		{Name: "everything", Command: []string{bin}},
		{Name: "evp", Command: []string{bin}, Isolation: config.IsolationPerIdentity},
	}
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "tasks-ts", logs, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}}}
		c.Upstreams = ups
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, ups)
	hostURL := "http://" + host.TailnetIP().String()
	alice, bob := callerRelay(t, hostURL, cs[0]), callerRelay(t, hostURL, cs[1])
	for _, c := range []struct {
		name, mode, tool, last string
	}{
		{"shared child", "legacy", "everything__simulate-research-query", "ok bob heard no task status"},
		{"per-identity children", "legacy", "evp__simulate-research-query", "ok bob heard no task status"},
		{"2026-07-28", "auto", "everything__simulate-research-query", "ok the other tools are offered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, node, "tasks.mjs", alice, bob)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "MODE="+c.mode, "TOOL="+c.tool)
			out, err := cmd.CombinedOutput()
			t.Logf("tasks.mjs (%s):\n%s", c.name, out)
			if err != nil {
				t.Fatalf("tasks.mjs: %v", err)
			}
			if !strings.Contains(string(out), c.last) {
				t.Fatalf("tasks.mjs did not get to its last check, %q", c.last)
			}
		})
	}
	for _, action := range []string{"task_create", "task_get", "task_result", "task_cancel", "tasks_list"} {
		if !strings.Contains(logs.String(), `"msg":"`+action+`"`) {
			t.Errorf("no %s audit line", action)
		}
	}
}
