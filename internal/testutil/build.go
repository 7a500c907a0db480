package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BuildTsmcp builds ./cmd/tsmcp into dir and returns the binary's path.
// Tests that need tsmcp exactly as users run it use it: inside a test
// binary (TSMCP_TEST_RUN_MAIN) tsnet knows it runs in a test and behaves
// differently, e.g. it uploads no logs. It is the build of the release
// archives and the images (CGO_ENABLED=0, -trimpath; no version stamped),
// so the build cache .ci/run's release snapshot fills serves it.
func BuildTsmcp(t testing.TB, dir string) string {
	t.Helper()
	return BuildCommand(t, dir, "./cmd/tsmcp")
}

// BuildCommand builds the command package pkg (a path relative to the
// repository root, e.g. "./cmd/tsmcp") into dir, as BuildTsmcp builds
// tsmcp, and returns the binary's path (named after pkg's last element).
func BuildCommand(t testing.TB, dir, pkg string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build %s and was not found on PATH: %v", pkg, err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	ctx, cancel := DeadlineContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	t.Logf("built %s in %v", pkg, time.Since(start).Round(time.Millisecond))
	return bin
}

// deadlineMargin is how long before the test binary's -timeout a
// DeadlineContext ends.
const deadlineMargin = time.Minute

// DeadlineContext returns a context for a command that may take long on a
// cold, busy machine (a go build): it ends a minute before the test
// binary's -timeout (go test's default is 10 minutes), so the command is
// stopped and the test fails with its output, rather than the binary
// panicking with the command still running. It has no fixed budget of
// its own: how long a cold build takes depends on the machine.
func DeadlineContext(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx := context.Background()
	if tt, ok := t.(interface{ Context() context.Context }); ok {
		ctx = tt.Context()
	}
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok {
			return context.WithDeadline(ctx, d.Add(-deadlineMargin))
		}
	}
	return context.WithCancel(ctx)
}
