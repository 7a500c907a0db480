package testutil

import (
	"net"
	"os"
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
// installs it) and is skipped otherwise, saying how to install it
// (MissingTool).
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

// interopTSInstall installs the npm packages of interop/ts.
const interopTSInstall = "npm ci --prefix interop/ts"

// npmBin returns the path of the executable bin of the npm package pkg
// installed in interop/ts.
func npmBin(t testing.TB, pkg, bin string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "interop", "ts", "node_modules", ".bin", bin)
	if _, err := os.Stat(p); err != nil {
		MissingTool(t, pkg+" is not installed in interop/ts", interopTSInstall)
	}
	return p
}

// NodeInstall installs Node.js and npm on Debian (the interop clients
// need Node.js 18 or later).
const NodeInstall = "apt-get install -y nodejs npm"

// TypeScriptSDK returns the path of node and the directory where `npm ci
// --prefix interop/ts` installs the official MCP TypeScript SDK (and the
// scripts that drive it). When either is missing the test fails if CI is
// set and is skipped otherwise (MissingTool).
func TypeScriptSDK(t testing.TB) (node, dir string) {
	t.Helper()
	node = NeedTool(t, "node", NodeInstall)
	dir = filepath.Join(RepoRoot(t), "interop", "ts")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		MissingTool(t, "the MCP TypeScript SDK is not installed in interop/ts", interopTSInstall)
	}
	return node, dir
}
