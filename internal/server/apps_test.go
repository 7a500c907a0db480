package server_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// MCP Apps (the io.modelcontextprotocol/ui extension) through the bridge,
// with a real Apps server from the registry:
// @modelcontextprotocol/server-basic-vanillajs, pinned by
// interop/apps/package-lock.json. Its tool get-time names its view,
// ui://get-time/mcp-app.html, in _meta.ui.resourceUri (and the older
// _meta["ui/resourceUri"]).

const (
	// appsUIURI is the view as the Apps server names it, and as an
	// unprefixed upstream serves it.
	appsUIURI = "ui://get-time/mcp-app.html"
	// appsServedUIURI is the view as upstream "apps" (prefixed) serves it.
	appsServedUIURI = "ui://apps+get-time/mcp-app.html"
	// appsMIMEType is the MIME type of an MCP Apps view.
	appsMIMEType = "text/html;profile=mcp-app"
)

// appsDir returns interop/apps, where `npm ci --prefix interop/apps`
// installs the Apps server, the ext-apps host side and esbuild. When they
// are missing the test fails if CI is set (.ci/run installs them) and is
// skipped otherwise, saying how to install them.
func appsDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "interop", "apps")
	for _, f := range []string{
		"node_modules/.bin/mcp-server-basic-vanillajs",
		"node_modules/@modelcontextprotocol/ext-apps/package.json",
		"node_modules/.bin/esbuild",
	} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			msg := "interop/apps is not installed (" + f + "); run: npm ci --prefix interop/apps"
			if os.Getenv("CI") != "" {
				t.Fatal(msg + " (CI is set, so .ci/run must install it)")
			}
			t.Skip(msg)
		}
	}
	return dir
}

// startAppsHost starts a host bridging the Apps server twice: as "apps"
// (prefixed: apps__get-time, ui://apps+get-time/mcp-app.html) and as
// "plain" (prefix: false: get-time, ui://get-time/mcp-app.html), under
// rules, and waits until both are up.
func startAppsHost(ctx context.Context, t *testing.T, tn *tailnet, logs *logBuffer, rules []aclRule) *server.Server {
	t.Helper()
	bin := filepath.Join(appsDir(t), "node_modules", ".bin", "mcp-server-basic-vanillajs")
	unprefixed := false
	ups := []config.Upstream{
		{Name: "apps", Command: []string{bin, "--stdio"}},
		{Name: "plain", Command: []string{bin, "--stdio"}, Prefix: &unprefixed},
	}
	name := "apps-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	host, err := startHost(ctx, tn.net, name, logs, func(c *config.Config, o *server.Options) {
		c.ACL.Rules = toRules(rules)
		c.Upstreams = ups
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	waitUpstreamsUp(ctx, t, host, ups)
	return host
}

// toolUIURIs returns, by tool name, the UI resource URIs each listed tool
// names: _meta.ui.resourceUri and _meta["ui/resourceUri"].
func toolUIURIs(ctx context.Context, t *testing.T, s *sdk.ClientSession) map[string][2]any {
	t.Helper()
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]any{}
	for _, tool := range res.Tools {
		var nested any
		if ui, ok := tool.Meta["ui"].(map[string]any); ok {
			nested = ui["resourceUri"]
		}
		out[tool.Name] = [2]any{nested, tool.Meta["ui/resourceUri"]}
	}
	return out
}

// TestMCPAppsPolicy: through the tailnet, a prefixed upstream's Apps tool
// names its view by the ui:// URI tsmcp serves it under, and that URI
// reads the view; an unprefixed upstream's passes unchanged. The policy
// decides the view like any resource: bob, allowed the tool and the
// pattern "apps+*" (which matched the view's old served form), sees the
// tool naming the view but cannot read it, in either spelling, and his
// refusal looks like a missing resource.
func TestMCPAppsPolicy(t *testing.T) {
	tn := startTailnet(t)
	alice, bob := tn.callers()[0], tn.callers()[1]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startAppsHost(ctx, t, tn, logs, []aclRule{
		{src: alice.login, tools: all, resources: []string{"ui://apps+*", "ui://get-time/*"}},
		{src: bob.login, tools: all, resources: []string{"apps+*"}},
	})
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	as := featSession(ctx, t, endpoint, alice, nil)
	bs := featSession(ctx, t, endpoint, bob, nil)

	wantTools := map[string][2]any{
		"apps__get-time": {appsServedUIURI, appsServedUIURI},
		"get-time":       {appsUIURI, appsUIURI},
	}
	for _, c := range []struct {
		name string
		s    *sdk.ClientSession
	}{{"alice", as}, {"bob", bs}} {
		got := toolUIURIs(ctx, t, c.s)
		for tool, want := range wantTools {
			if got[tool] != want {
				t.Errorf("%s: %s names its view as %v (_meta.ui.resourceUri, _meta[\"ui/resourceUri\"]), want %v", c.name, tool, got[tool], want)
			}
		}
	}

	t.Run("alice reads the views the tools name", func(t *testing.T) {
		if got, want := sdkResourceURIs(ctx, t, as), []string{appsServedUIURI, appsUIURI}; !slices.Equal(got, want) {
			t.Errorf("alice lists %q, want %q", got, want)
		}
		for _, uri := range []string{appsServedUIURI, appsUIURI} {
			res, err := as.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
			if err != nil {
				t.Fatalf("reading %s: %v", uri, err)
			}
			if len(res.Contents) != 1 {
				t.Fatalf("%s: %d contents", uri, len(res.Contents))
			}
			c := res.Contents[0]
			if c.URI != uri || c.MIMEType != appsMIMEType || !strings.Contains(c.Text, "<title>Get Time App</title>") {
				t.Errorf("%s read as %s, %s, %.80q", uri, c.URI, c.MIMEType, c.Text)
			}
		}
	})

	t.Run("bob may call the tool but not read its view", func(t *testing.T) {
		res, err := bs.CallTool(ctx, &sdk.CallToolParams{Name: "apps__get-time", Arguments: map[string]any{}})
		if err != nil || res.IsError {
			t.Fatalf("bob calling apps__get-time: %v %+v", err, res)
		}
		if got := sdkResourceURIs(ctx, t, bs); len(got) != 0 {
			t.Errorf("bob lists %q", got)
		}
		missing := readErr(ctx, t, as, "ui://apps+get-time/missing.html")
		for _, uri := range []string{
			appsServedUIURI,
			// The view's old served form, which bob's pattern matches:
			// it names no resource now.
			"apps+" + appsUIURI,
		} {
			if got := readErr(ctx, t, bs, uri); got != missing {
				t.Errorf("bob reading %s fails with %q; a missing view fails with %q", uri, got, missing)
			}
		}
		if !strings.Contains(missing, "not found") {
			t.Errorf("a missing view fails with %q", missing)
		}
		denied := false
		for _, l := range logs.JSONLines("resource_read") {
			denied = denied || l["uri"] == appsServedUIURI && l["decision"] == "deny"
		}
		if !denied {
			t.Errorf("no resource_read deny audit line for bob's read of %s", appsServedUIURI)
		}
	})
}
