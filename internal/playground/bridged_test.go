package playground_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestPlaygroundListsBridgedTools bridges server-everything as "every",
// held back from starting until the banner is out: the banner says the
// upstream is not up yet, and once it is, the playground prints and
// writes each identity's "may call" again, exactly what tools/list shows
// that identity through its endpoint, bridged tools included; and so it
// does after a policy reload.
func TestPlaygroundListsBridgedTools(t *testing.T) {
	everything := testutil.EverythingBin(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "tsmcp.yaml")
	gate := filepath.Join(dir, "start")
	start := fmt.Sprintf("while [ ! -e %q ]; do sleep 0.05; done; exec %q", gate, everything)
	// alice joins second (user-2), bob third (user-3).
	policy := func(bob string) string {
		return fmt.Sprintf(`acl:
  rules:
    - src: ["user-2@fake-control.example.net", "tag:ci"]
      tools: ["*"]
    - src: ["*"]
      tools: [whoami]
    - src: ["user-3@fake-control.example.net"]
      tools: [%q]
upstreams:
  - name: every
    command: [sh, -c, %q]
`, bob, start)
	}
	if err := os.WriteFile(file, []byte(policy("server_time")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	epFile := filepath.Join(dir, "endpoints.json")
	_, stop := runPlayground(t, playground.Options{Config: cfg, ConfigFile: file, Out: out, EndpointsFile: epFile})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	banner := out.String()
	for _, w := range []string{"upstream every is not up yet (starting): its tools are missing above", "  alice  whoami\n"} {
		if !strings.Contains(banner, w) {
			t.Errorf("banner lacks %q:\n%s", w, banner)
		}
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// Once the upstream is up, the lists are printed again with its
	// tools.
	eps, ok := readEndpoints(t, epFile, nil, func(e playground.Endpoints) bool {
		return slices.Contains(e.Identities[0].MayCall, "every__echo")
	})
	if !ok {
		t.Fatalf("alice's may-call list never got the bridged tools:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "tools changed (upstream every up); may call: alice: ") {
		t.Errorf("no line says the tools changed when the upstream came up:\n%s", out.String())
	}
	printed := func(id playground.Identity) bool {
		list := strings.Join(id.MayCall, ", ")
		return strings.Contains(out.String(), id.Name+": "+list+";") || strings.Contains(out.String(), id.Name+": "+list+"\n")
	}
	for _, id := range eps.Identities {
		if listed := toolsOf(ctx, t, id.MCP); !slices.Equal(offeredStateless(id.MayCall), listed) {
			t.Errorf("%s may call %q, but tools/list shows %q", id.Name, id.MayCall, listed)
		}
		if !printed(id) {
			t.Errorf("%s's list %q is not printed:\n%s", id.Name, id.MayCall, out.String())
		}
	}
	if bob := eps.Identities[1]; !slices.Equal(bob.MayCall, []string{"whoami"}) {
		t.Errorf("bob may call %q before the reload, want whoami", bob.MayCall)
	}

	// bob is given every bridged tool: the reload's summary lists them.
	if err := os.WriteFile(file, []byte(policy("every__*")), 0o600); err != nil {
		t.Fatal(err)
	}
	eps, ok = readEndpoints(t, epFile, nil, func(e playground.Endpoints) bool {
		return slices.Contains(e.Identities[1].MayCall, "every__echo")
	})
	if !ok {
		t.Fatalf("bob's may-call list did not get the bridged tools on reload:\n%s", out.String())
	}
	bob := eps.Identities[1]
	if listed := toolsOf(ctx, t, bob.MCP); !slices.Equal(offeredStateless(bob.MayCall), listed) {
		t.Errorf("after the reload bob may call %q, but tools/list shows %q", bob.MayCall, listed)
	}
	if want := "reloaded (the acl applies now; tools and upstreams need a restart); may call: "; !strings.Contains(out.String(), want) || !printed(bob) {
		t.Errorf("the reload's summary does not list bob's %q:\n%s", bob.MayCall, out.String())
	}
}

// offeredStateless is what a client on the stateless 2026-07-28 protocol
// (toolsOf's) is offered of the tools an identity may call: all but
// server-everything's simulate-research-query, which runs only as a task
// (execution.taskSupport "required"), and tsmcp serves tasks on 2025-11-25
// sessions only (docs/bridging.md).
func offeredStateless(mayCall []string) []string {
	return slices.DeleteFunc(slices.Clone(mayCall), func(n string) bool { return n == "every__simulate-research-query" })
}
