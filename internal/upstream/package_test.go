package upstream

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/packages"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// npmRoot lays out a package root whose npm prefix holds the packages
// that .ci/run installs into interop/ts (the image's layout:
// <root>/npm/lib/node_modules/<name>).
func npmRoot(t *testing.T) string {
	t.Helper()
	testutil.EverythingBin(t) // fails under CI, skips elsewhere, when not installed
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "npm", "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(testutil.RepoRoot(t), "interop", "ts", "node_modules")
	if err := os.Symlink(modules, filepath.Join(root, "npm", "lib", "node_modules")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestPackageUpstream proves that an upstream naming a baked npm package
// starts its entry point (with node from PATH, not the script's
// #!/usr/bin/env line) and bridges its tools.
func TestPackageUpstream(t *testing.T) {
	root := npmRoot(t)
	opts := testOptions()
	opts.LookupEnv = func(k string) (string, bool) {
		if k == packages.RootEnv {
			return root, true
		}
		return os.LookupEnv(k)
	}
	h := newHarness(t, []config.Upstream{{Name: "ev", Package: "@modelcontextprotocol/server-everything"}}, opts)
	res := h.call(context.Background(), "ev__echo", map[string]any{"message": "baked"})
	if res.IsError || !strings.Contains(resultText(res), "baked") {
		t.Fatalf("ev__echo = %q (isError %v)", resultText(res), res.IsError)
	}
}

// TestPackageNotBaked proves that a package missing from the image stops
// New with an error naming the upstream key and the package.
func TestPackageNotBaked(t *testing.T) {
	root := t.TempDir()
	opts := testOptions()
	opts.LookupEnv = func(k string) (string, bool) {
		if k == packages.RootEnv {
			return root, true
		}
		return "", false
	}
	_, err := New([]config.Upstream{{Name: "fs", Package: "npm:@modelcontextprotocol/server-filesystem@2025.8.21"}}, opts)
	want := "upstreams[0].package: package npm:@modelcontextprotocol/server-filesystem@2025.8.21: not baked into this image"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("New error = %v, want prefix %q", err, want)
	}
}
