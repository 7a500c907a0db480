package tsnetx_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"tailscale.com/tailcfg"

	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/tsnetx"
)

// TestFilterFuncPinned fails loudly when tailscale.com moves: FilterFunc
// relies on tsnet.Server.Sys(), "not a stable API", and on every filter
// update installing a new *filter.Filter. Re-check both (and the WhoIs
// cache in internal/server, which depends on them) before changing
// PinnedTailscaleVersion.
func TestFilterFuncPinned(t *testing.T) {
	// Test binaries carry no dependency versions; go.mod is the truth.
	mod, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*tailscale\.com\s+(v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require tailscale.com")
	}
	if v := string(m[1]); v != tsnetx.PinnedTailscaleVersion {
		t.Fatalf("tailscale.com is %s, but FilterFunc was verified on %s: re-verify that Sys().Engine.Get().GetFilter() "+
			"still changes on every filter-only MapResponse (TestFilterFuncChangesOnFilterOnlyUpdate and the WhoIs cache "+
			"tests in internal/server), then update PinnedTailscaleVersion", v, tsnetx.PinnedTailscaleVersion)
	}
}

// TestFilterFuncChangesOnFilterOnlyUpdate: a MapResponse carrying only
// PacketFilters (a grant change, as production control sends it) installs
// a new filter, visible through FilterFunc.
func TestFilterFuncChangesOnFilterOnlyUpdate(t *testing.T) {
	n, err := devnet.Start(devnet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	filter := tsnetx.FilterFunc(a.Server)
	before := filter()
	if before == nil {
		t.Fatal("no filter installed on a running node")
	}
	n.SetPeerCaps(a.IP, tailcfg.PeerCapMap{"example.com/cap/x": {`{}`}})
	if err := n.PushGrants("a"); err != nil {
		t.Fatal(err)
	}
	for filter() == before {
		if ctx.Err() != nil {
			t.Fatal("the filter pointer did not change after a filter-only MapResponse")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
