package upstream

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
)

// recorder is an Observer that counts what it is told, by upstream.
type recorder struct {
	mu                        sync.Mutex // guards the fields below
	restarts, started, exited map[string]int
}

func newRecorder() *recorder {
	return &recorder{restarts: map[string]int{}, started: map[string]int{}, exited: map[string]int{}}
}

func (r *recorder) UpstreamRestarted(u string)    { r.add(r.restarts, u) }
func (r *recorder) UpstreamChildStarted(u string) { r.add(r.started, u) }
func (r *recorder) UpstreamChildExited(u string)  { r.add(r.exited, u) }

func (r *recorder) add(m map[string]int, u string) {
	r.mu.Lock()
	m[u]++
	r.mu.Unlock()
}

// get returns the restarts, the children started and those still live.
func (r *recorder) get(u string) (restarts, started, live int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts[u], r.started[u], r.started[u] - r.exited[u]
}

// TestObserverRestartsAndChildren: a real stdio child that crashes is
// counted as one restart, and the live children go back to one (the new
// process); a remote upstream whose server went away and came back counts
// its reconnection as restarts and has no child process; after Close no
// child is live.
func TestObserverRestartsAndChildren(t *testing.T) {
	rec := newRecorder()
	srv := newRemoteServer(t, false)
	// Registered before the harness, so it runs after the harness's
	// cleanup has closed the provider.
	t.Cleanup(func() {
		for _, u := range []string{"t", "r"} {
			if _, _, live := rec.get(u); live != 0 {
				t.Errorf("%s: %d children live after Close", u, live)
			}
		}
	})
	opts := testOptions()
	opts.Observer = rec
	opts.PingInterval = 20 * time.Millisecond
	u := testUpstream(t, "t")
	u.Timeout = time.Hour
	h := newHarness(t, []config.Upstream{u, {Name: "r", URL: srv.url()}}, opts)
	ctx := context.Background()

	pid := h.pidOf(ctx, "t__pid")
	if restarts, started, live := rec.get("t"); restarts != 0 || started != 1 || live != 1 {
		t.Fatalf("before the crash: restarts %d, started %d, live %d; want 0, 1, 1", restarts, started, live)
	}
	wantError(t, h.call(ctx, "t__crash", nil), "upstream t is unavailable")
	if got := h.pidOf(ctx, "t__pid"); got == pid {
		t.Fatalf("pid %d unchanged after the crash", pid)
	}
	if restarts, started, live := rec.get("t"); restarts != 1 || started != 2 || live != 1 {
		t.Errorf("after the crash: restarts %d, started %d, live %d; want 1, 2, 1", restarts, started, live)
	}

	wantText(t, h.call(ctx, "r__echo", map[string]any{"text": "1"}), "1")
	// Under load a ping can time out and the session be re-established
	// already: count from here.
	before, _, _ := rec.get("r")
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.url(), "http://"), "/mcp")
	srv.stop()
	waitFor(t, "the bridge to notice the server is gone", func() bool { return !h.status("r").Up })
	srv.start(addr)
	h.waitStatus("r", true)
	wantText(t, h.call(ctx, "r__echo", map[string]any{"text": "2"}), "2")
	if restarts, started, _ := rec.get("r"); restarts <= before || started != 0 {
		t.Errorf("remote after reconnecting: restarts %d (%d before the server went away), children started %d; want more, and 0 children", restarts, before, started)
	}
}

// TestObserverPerIdentityChildren: the live children of a per-identity
// upstream are the discovery child plus one per identity in use, and go
// back to the discovery child alone once the idle ones are reaped.
func TestObserverPerIdentityChildren(t *testing.T) {
	rec := newRecorder()
	t.Cleanup(func() {
		if _, _, live := rec.get("p"); live != 0 {
			t.Errorf("%d children live after Close", live)
		}
	})
	opts := testOptions()
	opts.Observer = rec
	u := perIdentityUpstream(t, "p")
	u.IdleTimeout = 50 * time.Millisecond
	h := newHarness(t, []config.Upstream{u}, opts)
	bg := context.Background()

	h.tool("p__count") // listed by the discovery child
	if _, _, live := rec.get("p"); live != 1 {
		t.Fatalf("live children %d before any call, want the discovery child", live)
	}
	// Each identity's child is held in use (as by a long call) while it
	// is counted, so the idle timeout cannot reap it meanwhile.
	var releases []func()
	for _, ctx := range []context.Context{alice(bg), bob(bg)} {
		_, release, err := h.p.ups[0].acquireChild(ctx)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
		wantText(t, h.call(ctx, "p__count", nil), "1")
	}
	if _, _, live := rec.get("p"); live != 3 {
		t.Errorf("live children %d with two identities, want 3 (discovery, alice, bob)", live)
	}
	for _, release := range releases {
		release()
	}
	waitFor(t, "the idle children to be reaped", func() bool {
		_, _, live := rec.get("p")
		return live == 1
	})
	if restarts, started, _ := rec.get("p"); restarts != 0 || started != 3 {
		t.Errorf("restarts %d, children started %d; want 0, 3", restarts, started)
	}
}
