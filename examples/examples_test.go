// Package examples holds complete tsmcp configurations for common setups.
// Its test loads and checks every one of them, so that they stay valid.
package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/toolset"
)

// TestExamples loads every examples/*.yaml with config.Load (which
// validates it as `tsmcp serve` does before joining the tailnet) and
// checks its declarative tools with toolset.Check, with the
// secrets the examples read from the environment set.
func TestExamples(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "example-github-token")
	t.Setenv("STATUS_TOKEN", "example-status-token")
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"contractors-read-only.yaml", "http-tool-secret.yaml", "per-identity-children.yaml", "per-identity-secrets.yaml", "team-filesystem-github.yaml"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("examples = %v, want %v (update this test with the examples)", files, want)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			cfg, err := config.Load(config.LoadOptions{File: f})
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			if err := toolset.Check(cfg); err != nil {
				t.Fatalf("toolset.Check: %v", err)
			}
			if len(cfg.ACL.Rules) == 0 {
				t.Error("no acl rules: the example would deny everything")
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), "# ") {
				t.Error("an example starts with a comment saying what it is for")
			}
		})
	}
}
