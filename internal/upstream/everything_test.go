package upstream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
)

// everythingBin finds the reference server installed by
// `npm ci --prefix interop/ts`, relative to the repository root.
func everythingBin(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "interop", "ts", "node_modules", ".bin", "mcp-server-everything")
	if _, err := os.Stat(bin); err != nil {
		msg := "the reference server @modelcontextprotocol/server-everything is not installed; run: npm ci --prefix interop/ts"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

func TestReferenceServerEverything(t *testing.T) {
	bin := everythingBin(t)
	h := newHarness(t, []config.Upstream{{Name: "ev", Command: []string{bin}}}, testOptions())
	echo := h.tool("ev__echo")
	if !strings.Contains(string(echo.Tool.RawInputSchema), `"message"`) {
		t.Errorf("ev__echo input schema %s lacks the message property", echo.Tool.RawInputSchema)
	}
	res := h.call(context.Background(), "ev__echo", map[string]any{"message": "hello from tsmcp"})
	if res.IsError || !strings.Contains(resultText(res), "hello from tsmcp") {
		t.Fatalf("ev__echo = %q (isError %v)", resultText(res), res.IsError)
	}
}
