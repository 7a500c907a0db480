package main

import (
	"os"
	"testing"
)

// TestMain lets the tests run this test binary as the tsmcp command itself
// (TSMCP_TEST_RUN_MAIN=1), so that signal handling and exit codes are
// tested on a real process without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("TSMCP_TEST_RUN_MAIN") == "1" {
		// Not a config key: config.Load refuses unknown TSMCP_ variables.
		os.Unsetenv("TSMCP_TEST_RUN_MAIN")
		main()
		os.Exit(0)
	}
	if os.Getenv(hostileUpstreamEnv) == "1" {
		runHostileUpstream() // checktext_test.go
		os.Exit(0)
	}
	os.Exit(m.Run())
}
