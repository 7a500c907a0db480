package testutil

import (
	"runtime"
	"testing"
	"time"
)

// WaitFor polls cond until it holds; after within it fails the test with
// a dump of the goroutines. within bounds a wait that should end
// promptly, so that a bug fails the test instead of hanging it.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
