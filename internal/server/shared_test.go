package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// TestAutogroupsMemberAndShared: a user's node of this tailnet is
// autogroup:member; once the control server presents it as a node of
// another tailnet (as a user the host was shared with appears), the same
// user is autogroup:shared and no longer a member. Tagged nodes are
// neither.
func TestAutogroupsMemberAndShared(t *testing.T) {
	tn := startTailnet(t)
	ci := tn.callers()[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, err := startHost(ctx, tn.net, "autogroups", &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{
			{Src: []string{"autogroup:member"}, Tools: []string{"whoami"}},
			{Src: []string{"autogroup:shared"}, Tools: []string{"docs_search"}},
		}}
		o.Tools = server.Providers(tools.Builtin{}, &countingProvider{runs: map[string]int{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	dave, err := tn.net.NewNode(ctx, devnet.NodeOptions{Hostname: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	defer dave.Close()

	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	list := func(c caller) []string {
		t.Helper()
		return toolNames(ctx, t, streamableSession(ctx, t, endpoint, c))
	}
	daveCaller := caller{name: "dave", node: dave}

	if got := list(daveCaller); !slices.Equal(got, []string{"whoami"}) {
		t.Fatalf("member dave lists %v, want [whoami]", got)
	}
	if got := list(ci); len(got) != 0 {
		t.Fatalf("tagged node lists %v, want nothing (tagged nodes are neither member nor shared)", got)
	}

	if err := tn.net.MoveToOtherTailnet(ctx, dave, "other-tailnet.ts.net"); err != nil {
		t.Fatal(err)
	}
	// The host learns it with its next netmap.
	for {
		got := list(daveCaller)
		if slices.Equal(got, []string{"docs_search"}) {
			break
		}
		if !slices.Equal(got, []string{"whoami"}) {
			t.Fatalf("dave lists %v, want [whoami] before the change reaches the host, [docs_search] after", got)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the host never saw dave as a node of another tailnet")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
