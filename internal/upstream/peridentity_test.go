package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

func perIdentityUpstream(t *testing.T, name string) config.Upstream {
	u := testUpstream(t, name)
	u.Isolation = config.IsolationPerIdentity
	return u
}

func TestPerIdentitySeparation(t *testing.T) {
	// A variable of tsmcp's own environment must not reach children.
	t.Setenv("TSMCP_TEST_PARENT_SECRET", "must-not-leak")
	h := newHarness(t, []config.Upstream{perIdentityUpstream(t, "p")}, testOptions())
	bg := context.Background()

	// Tools are listed (by the discovery child) before any call.
	h.tool("p__count")
	// The discovery child runs without caller variables or tsmcp's own
	// environment.
	for _, kv := range discoveryEnviron(t) {
		if strings.HasPrefix(kv, "TSMCP_CALLER_") || strings.HasPrefix(kv, "TSMCP_TEST_PARENT_SECRET") {
			t.Errorf("discovery child has %s", kv)
		}
	}

	tests := []struct {
		name   string
		ctx    context.Context
		counts []string // successive t__count results
		env    map[string]string
	}{
		{name: "alice", ctx: alice(bg), counts: []string{"1", "2", "3"},
			env: map[string]string{"login": "alice@example.com", "node": "alice-laptop", "tags": "", "secret": "", "cfg": "from-config"}},
		{name: "bob has his own child", ctx: bob(bg), counts: []string{"1", "2"},
			env: map[string]string{"login": "bob@example.com", "node": "bob-desktop", "tags": "", "secret": "", "cfg": "from-config"}},
		{name: "tagged node: no login, tags comma-separated", ctx: ciNode(bg), counts: []string{"1"},
			env: map[string]string{"login": "", "node": "ci-runner", "tags": "tag:ci,tag:prod", "secret": "", "cfg": "from-config"}},
		{name: "alice again: her child kept its state", ctx: alice(bg), counts: []string{"4"},
			env: map[string]string{"login": "alice@example.com", "node": "alice-laptop", "tags": "", "secret": "", "cfg": "from-config"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.in(t)
			for _, want := range tc.counts {
				wantText(t, h.call(tc.ctx, "p__count", nil), want)
			}
			var env map[string]string
			if err := json.Unmarshal([]byte(resultText(h.call(tc.ctx, "p__env", nil))), &env); err != nil {
				t.Fatal(err)
			}
			if env["path"] == "" {
				t.Errorf("child has no PATH")
			}
			delete(env, "path")
			for k, v := range tc.env {
				if env[k] != v {
					t.Errorf("child env %s = %q, want %q", k, env[k], v)
				}
			}
		})
	}
	if s := h.status("p"); !s.Up || s.Detail != "" || s.PerIdentity != 3 {
		t.Errorf("status = %+v, want up with 3 per-identity children", s)
	}
	// 3 per-identity children and the discovery child.
	if kids := testutil.ChildPIDs(t); len(kids) != 4 {
		t.Errorf("child processes %v, want 4", kids)
	}
	wantError(t, h.call(bg, "p__count", nil), "upstream p needs an identified caller")
}

// discoveryEnviron returns the environment of the only child, the
// discovery child of a per-identity upstream no caller has used yet.
func discoveryEnviron(t *testing.T) []string {
	t.Helper()
	kids := testutil.ChildPIDs(t)
	if len(kids) != 1 {
		t.Fatalf("child processes %v before any call, want the discovery child", kids)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", kids[0]))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(environ), "\x00")
}

func TestPerIdentityIdleReaping(t *testing.T) {
	u := perIdentityUpstream(t, "p")
	u.IdleTimeout = 50 * time.Millisecond
	h := newHarness(t, []config.Upstream{u}, testOptions())
	ctx := alice(context.Background())

	pid := h.pidOf(ctx, "p__pid")
	wantText(t, h.call(ctx, "p__count", nil), "1")
	// Reaped, not merely dead: a killed child stays a zombie, still our
	// child, until its supervisor's Wait collects it.
	waitFor(t, "the idle child to be reaped", func() bool {
		return h.status("p").PerIdentity == 0 && !slices.Contains(testutil.ChildPIDs(t), pid)
	})
	if kids := testutil.ChildPIDs(t); len(kids) != 1 {
		var st []string
		for _, k := range kids {
			s, _, _ := testutil.ProcState(k)
			st = append(st, fmt.Sprintf("%d:%s", k, s))
		}
		t.Errorf("child processes %v, want only the discovery child (reaped %d)", st, pid)
	}
	// The next call starts a fresh child.
	if got := h.pidOf(ctx, "p__pid"); got == pid {
		t.Errorf("same pid %d after reaping", pid)
	}
	wantText(t, h.call(ctx, "p__count", nil), "1")
}

func TestPerIdentityLimit(t *testing.T) {
	opts := testOptions()
	opts.MaxPerIdentity = 1
	h := newHarness(t, []config.Upstream{perIdentityUpstream(t, "p")}, opts)
	bg := context.Background()
	wantText(t, h.call(alice(bg), "p__count", nil), "1")
	wantError(t, h.call(bob(bg), "p__count", nil), "upstream p has too many active callers (limit 1); try again later")
	wantText(t, h.call(alice(bg), "p__count", nil), "2")
}

func TestPerIdentityChildRestarts(t *testing.T) {
	u := perIdentityUpstream(t, "p")
	u.Timeout = time.Hour
	h := newHarness(t, []config.Upstream{u}, testOptions())
	ctx := alice(context.Background())
	wantText(t, h.call(ctx, "p__count", nil), "1")
	wantError(t, h.call(ctx, "p__crash", nil), "upstream p is unavailable")
	// Restarted: a new process, so the counter starts over.
	wantText(t, h.call(ctx, "p__count", nil), "1")
	if !strings.Contains(h.logs.String(), "exit status 7") {
		t.Errorf("log lacks the exit status")
	}
}

func TestCallerKey(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{name: "user by login", ctx: alice(context.Background()), want: "user:alice@example.com"},
		{name: "tagged node by tags and node", ctx: ciNode(context.Background()), want: "tags:tag:ci,tag:prod/node:n3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, _ := identity.FromContext(tc.ctx)
			if got := callerKey(id); got != tc.want {
				t.Errorf("callerKey = %q, want %q", got, tc.want)
			}
		})
	}
}
