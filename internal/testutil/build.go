package testutil

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// buildTimeout bounds one `go build` of tsmcp (cold, on a busy machine).
const buildTimeout = 5 * time.Minute

// BuildTsmcp builds ./cmd/tsmcp into dir and returns the binary's path.
// Tests that need tsmcp exactly as users run it use it: inside a test
// binary (TSMCP_TEST_RUN_MAIN) tsnet knows it runs in a test and behaves
// differently, e.g. it uploads no logs.
func BuildTsmcp(t testing.TB, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build tsmcp and was not found on PATH: %v", err)
	}
	bin := filepath.Join(dir, "tsmcp")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/tsmcp")
	cmd.Dir = RepoRoot(t)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tsmcp: %v\n%s", err, out)
	}
	t.Logf("built tsmcp in %v", time.Since(start).Round(time.Millisecond))
	return bin
}
