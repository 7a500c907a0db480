package playground_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/playground"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// getPage fetches url (an identity page) as JSON or HTML.
func getPage(ctx context.Context, t *testing.T, url, accept string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// pathWithout returns a PATH of dir followed by the entries of the
// current PATH that hold no tsmcp.
func pathWithout(dir string) string {
	entries := []string{dir}
	for _, e := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(e, "tsmcp")); err != nil {
			entries = append(entries, e)
		}
	}
	return strings.Join(entries, string(os.PathListSeparator))
}

// TestPlaygroundPageShowsViewersEndpoint: in `tsmcp dev` each identity's
// page, fetched through its own loopback endpoint, gives settings that
// work on this machine: that endpoint (not http://tsmcp/, which does not
// resolve here), and for Claude Desktop `tsmcp connect` to it, started as
// "tsmcp" when that is on PATH and by the running binary's absolute path
// when it is not (after `go run`); the banner gives the same command, and
// names the demo identities as a config must.
func TestPlaygroundPageShowsViewersEndpoint(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		tsmcpOnPath bool
		wantConnect string
	}{
		{name: "tsmcp not on PATH", wantConnect: exe},
		{name: "tsmcp on PATH", tsmcpOnPath: true, wantConnect: "tsmcp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.tsmcpOnPath {
				if err := os.WriteFile(filepath.Join(dir, "tsmcp"), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", pathWithout(dir))
			out := &testutil.Buffer{}
			eps, stop := runPlayground(t, playground.Options{Out: out})
			defer stop()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for _, id := range eps.Identities {
				var p struct {
					URL     string `json:"url"`
					SSEURL  string `json:"sse_url"`
					FullURL string `json:"full_url"`
					Clients []struct {
						Client  string `json:"client"`
						Setting string `json:"setting"`
					} `json:"clients"`
				}
				body := getPage(ctx, t, id.Page, "application/json")
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				if p.URL != id.MCP || p.SSEURL != id.SSE || p.FullURL != "" {
					t.Errorf("%s's page: url %q sse %q full %q, want %q %q and none", id.Name, p.URL, p.SSEURL, p.FullURL, id.MCP, id.SSE)
				}
				name := "tsmcp-" + id.Name
				settings := map[string]string{}
				for _, c := range p.Clients {
					settings[c.Client] = c.Setting
				}
				if got, want := settings["Claude Code"], "claude mcp add --transport http "+name+" "+id.MCP; got != want {
					t.Errorf("%s's Claude Code setting = %q, want %q", id.Name, got, want)
				}
				var desktop struct {
					MCPServers map[string]struct {
						Command string   `json:"command"`
						Args    []string `json:"args"`
					} `json:"mcpServers"`
				}
				if err := json.Unmarshal([]byte(settings["Claude Desktop"]), &desktop); err != nil {
					t.Fatalf("%s's Claude Desktop setting %q: %v", id.Name, settings["Claude Desktop"], err)
				}
				if d := desktop.MCPServers[name]; d.Command != tt.wantConnect || !slices.Equal(d.Args, []string{"connect", id.MCP}) {
					t.Errorf("%s's Claude Desktop runs %q %q, want %q connect %s", id.Name, d.Command, d.Args, tt.wantConnect, id.MCP)
				}
				for client, s := range settings {
					if strings.Contains(s, "//tsmcp/") || strings.Contains(s, "mcp-remote") {
						t.Errorf("%s's %s setting %q names the tailnet host or mcp-remote", id.Name, client, s)
					}
				}
				html := string(getPage(ctx, t, id.Page, "text/html"))
				if !strings.Contains(html, id.MCP) || strings.Contains(html, "http://tsmcp/") {
					t.Errorf("%s's HTML page does not show its endpoint %s, or shows http://tsmcp/", id.Name, id.MCP)
				}
			}
			banner := out.String()
			alice := eps.Identities[0]
			for _, w := range []string{
				`{"mcpServers": {"tsmcp-alice": {"command": ` + quote(tt.wantConnect) + `, "args": ["connect", "` + alice.MCP + `"]}}}`,
				"alice is user-2@fake-control.example.net, bob is user-3@fake-control.example.net, ci is tag:ci",
				"tsmcp check --as alice",
			} {
				if !strings.Contains(banner, w) {
					t.Errorf("banner lacks %q:\n%s", w, banner)
				}
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
