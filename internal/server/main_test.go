package server_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(stdioServerEnv) != "" {
		// Re-executed as a bridged upstream: serve MCP on stdio.
		runStdioServer()
		os.Exit(0)
	}
	if spec := os.Getenv(forgeProxyEnv); spec != "" {
		// Re-executed as a local process forging a PROXY header.
		runForgeProxy(spec)
		os.Exit(0)
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}
