package interop

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// claudeInstall installs the Claude Code CLI, pinned by
// interop/claude/package-lock.json.
const claudeInstall = "npm ci --prefix interop/claude"

// TestClaudeCode follows the identity page's settings literally with the
// real Claude Code CLI (no API key needed) against `tsmcp dev` run from a
// built binary that is not on PATH, as after `go run`: alice's page gives
// the `claude mcp add` line for her loopback endpoint, bob's page the
// Claude Desktop entry (`tsmcp connect` by the binary's absolute path,
// added with `claude mcp add-json`, which takes the same JSON); `claude
// mcp list` must report both Connected. The banner's Claude Code line is
// the page's.
func TestClaudeCode(t *testing.T) {
	claude := filepath.Join(testutil.RepoRoot(t), "interop", "claude", "node_modules", ".bin", "claude")
	if _, err := os.Stat(claude); err != nil {
		testutil.MissingTool(t, "the Claude Code CLI is not installed in interop/claude", claudeInstall)
	}

	tmp := t.TempDir()
	bin := testutil.BuildTsmcp(t, tmp)
	// No tsmcp on PATH: the Desktop entry must then name the binary.
	var path []string
	for _, e := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(e, "tsmcp")); err != nil {
			path = append(path, e)
		}
	}
	t.Setenv("PATH", strings.Join(path, string(os.PathListSeparator)))

	endpoints := filepath.Join(tmp, "endpoints.json")
	dev := startDev(t, bin, endpoints, tmp)
	dev.waitForFile(t, endpoints)
	b, err := os.ReadFile(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	var eps struct {
		Identities []struct {
			Name, MCP, Page string
		} `json:"identities"`
	}
	if err := json.Unmarshal(b, &eps); err != nil {
		t.Fatal(err)
	}
	alice, bob := eps.Identities[0], eps.Identities[1]

	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout)
	defer cancel()
	home, project := filepath.Join(tmp, "home"), filepath.Join(tmp, "project")
	for _, d := range []string{home, project} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	runClaude := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, claude, args...)
		cmd.Dir = project
		// Its own HOME (where it keeps .claude.json), and nothing of
		// the caller's Claude or Anthropic settings.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CLAUDE") && !strings.HasPrefix(kv, "ANTHROPIC") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "HOME="+home, "DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1",
			"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
		cmd.WaitDelay = waitDelay
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("claude %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// alice: the Claude Code line from her page, as is.
	line := pageSetting(ctx, t, alice.Page, "Claude Code")
	words := strings.Fields(line)
	if len(words) < 3 || words[0] != "claude" || words[1] != "mcp" || words[2] != "add" {
		t.Fatalf("alice's Claude Code setting %q is not a `claude mcp add` line", line)
	}
	if !strings.Contains(dev.stdout.String(), "Claude Code:     "+line+"\n") {
		t.Errorf("the banner's Claude Code line is not the page's %q:\n%s", line, dev.stdout.String())
	}
	runClaude(words[1:]...)
	aliceName := words[len(words)-2]

	// bob: the Claude Desktop entry from his page.
	var desktop struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
	}
	entryText := pageSetting(ctx, t, bob.Page, "Claude Desktop")
	if err := json.Unmarshal([]byte(entryText), &desktop); err != nil || len(desktop.MCPServers) != 1 {
		t.Fatalf("bob's Claude Desktop setting %q: %v", entryText, err)
	}
	var bobName string
	var entry json.RawMessage
	for name, e := range desktop.MCPServers {
		bobName, entry = name, e
	}
	var server struct {
		Command string   `json:"command"`
		Args    []string `json:"args"`
	}
	if err := json.Unmarshal(entry, &server); err != nil {
		t.Fatal(err)
	}
	if server.Command != bin {
		t.Errorf("the Desktop entry runs %q, want the running binary %s (tsmcp is not on PATH)", server.Command, bin)
	}
	runClaude("mcp", "add-json", bobName, string(entry))

	list := runClaude("mcp", "list")
	t.Logf("claude mcp list:\n%s", list)
	for _, want := range []string{
		aliceName + ": " + alice.MCP + " (HTTP) - ✔ Connected",
		bobName + ": " + bin + " connect " + bob.MCP + " - ✔ Connected",
	} {
		if !strings.Contains(list, want) {
			t.Errorf("claude mcp list lacks %q", want)
		}
	}
	dev.stop(t)
}

// pageSetting returns one client's setting from the identity page at url.
func pageSetting(ctx context.Context, t *testing.T, url, client string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page struct {
		Clients []struct{ Client, Setting string } `json:"clients"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("identity page %s: %v\n%s", url, err, body)
	}
	for _, c := range page.Clients {
		if c.Client == client {
			return c.Setting
		}
	}
	t.Fatalf("identity page %s has no %s setting:\n%s", url, client, body)
	return ""
}
