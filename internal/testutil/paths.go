package testutil

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository's root directory, wherever the test
// runs.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: cannot locate the repository root")
	}
	// This file is <root>/internal/testutil/paths.go.
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// FreeAddr returns a loopback host:port on which nothing listens (any
// more), for a listener the code under test binds itself, or as a closed
// port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// EverythingBin returns the path of the reference MCP server
// @modelcontextprotocol/server-everything as `npm ci --prefix interop/ts`
// installs it. When it is missing the test fails if CI is set (.ci/run
// installs it) and is skipped otherwise, saying how to install it.
func EverythingBin(t testing.TB) string {
	t.Helper()
	return npmBin(t, "@modelcontextprotocol/server-everything", "mcp-server-everything")
}

// MemoryBin returns the path of the reference MCP server
// @modelcontextprotocol/server-memory (a knowledge graph kept in a file)
// as `npm ci --prefix interop/ts` installs it; missing, it fails or skips
// the test as EverythingBin does.
func MemoryBin(t testing.TB) string {
	t.Helper()
	return npmBin(t, "@modelcontextprotocol/server-memory", "mcp-server-memory")
}

// npmBin returns the path of the executable bin of the npm package pkg
// installed in interop/ts.
func npmBin(t testing.TB, pkg, bin string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "interop", "ts", "node_modules", ".bin", bin)
	if _, err := os.Stat(p); err != nil {
		msg := pkg + " is not installed; run: npm ci --prefix interop/ts"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so .ci/run must install it)")
		}
		t.Skip(msg)
	}
	return p
}

// TypeScriptSDK returns the path of node and the directory where `npm ci
// --prefix interop/ts` installs the official MCP TypeScript SDK (and the
// scripts that drive it). It fails the test when either is missing:
// .ci/run installs both, and a missing toolchain must not pass as a skip.
func TypeScriptSDK(t testing.TB) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js >= 18) is required for this test and was not found on PATH: %v", err)
	}
	dir = filepath.Join(RepoRoot(t), "interop", "ts")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		t.Fatalf("the TypeScript SDK is not installed: run `npm ci --prefix interop/ts` (%v)", err)
	}
	return node, dir
}
