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
// installs it) and is skipped otherwise, saying how to install it.
func EverythingBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), "interop", "ts", "node_modules", ".bin", "mcp-server-everything")
	if _, err := os.Stat(bin); err != nil {
		msg := "@modelcontextprotocol/server-everything is not installed; run: npm ci --prefix interop/ts"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so .ci/run must install it)")
		}
		t.Skip(msg)
	}
	return bin
}
