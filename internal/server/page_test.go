package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// pageJSON is the JSON form of the identity page, as tests read it.
type pageJSON struct {
	Login      string   `json:"login"`
	Node       string   `json:"node"`
	Tags       []string `json:"tags"`
	Membership string   `json:"membership"`
	Tools      []struct {
		Name string `json:"name"`
	} `json:"tools"`
	URL     string `json:"url"`
	Clients []struct {
		Client  string `json:"client"`
		Setting string `json:"setting"`
	} `json:"clients"`
}

// startPageHost starts a host where alice (group sre) may call every
// tool, bob only whoami, and the tagged ci node only boom.
func startPageHost(ctx context.Context, t *testing.T, tn *tailnet, name string) *server.Server {
	t.Helper()
	cs := tn.callers()
	host, err := startHost(ctx, tn.net, name, &logBuffer{}, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{
			Groups: map[string][]string{"sre": {cs[0].login}},
			Rules: []acl.Rule{
				{Src: []string{"group:sre"}, Tools: []string{"*"}},
				{Src: []string{cs[1].login}, Tools: []string{"whoami"}},
				{Src: []string{"tag:ci"}, Tools: []string{"boom"}},
			},
		}
		o.Tools = server.Providers(tools.Builtin{}, failingProvider{})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	return host
}

// TestIdentityPage: / shows each caller itself and exactly the tools
// tools/list shows it, in JSON and HTML, under a strict CSP, and nothing
// about anyone else.
func TestIdentityPage(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host := startPageHost(ctx, t, tn, "page")
	base := "http://" + host.TailnetIP().String()
	cs := tn.callers()
	for _, c := range cs {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := c.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET / (JSON) = %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var p pageJSON
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Login != c.login || !slices.Equal(p.Tags, append([]string{}, c.tags...)) {
				t.Errorf("page shows login %q tags %q, want %q %q", p.Login, p.Tags, c.login, c.tags)
			}
			wantMembership := "member"
			if c.tags != nil {
				wantMembership = "tagged node"
			}
			if p.Membership != wantMembership {
				t.Errorf("membership = %q, want %q", p.Membership, wantMembership)
			}
			var shown []string
			for _, tl := range p.Tools {
				shown = append(shown, tl.Name)
			}
			s := streamableSession(ctx, t, base+"/mcp", c)
			if listed := toolNames(ctx, t, s); !slices.Equal(shown, listed) {
				t.Errorf("page shows tools %q, tools/list shows %q", shown, listed)
			}
			if p.URL != "http://page/mcp" {
				t.Errorf("url = %q, want http://page/mcp", p.URL)
			}
			settings := map[string]string{}
			for _, cl := range p.Clients {
				settings[cl.Client] = cl.Setting
			}
			if got := settings["Claude Code"]; got != "claude mcp add --transport http page http://page/mcp" {
				t.Errorf("Claude Code setting = %q", got)
			}
			// One answer for Claude Desktop everywhere: tsmcp connect.
			if got, want := settings["Claude Desktop"], `{"mcpServers": {"page": {"command": "tsmcp", "args": ["connect", "http://page/mcp"]}}}`; got != want {
				t.Errorf("Claude Desktop setting = %q, want %q", got, want)
			}
			for _, other := range cs {
				if other.login != "" && other.login != c.login && strings.Contains(string(body), other.login) {
					t.Errorf("%s's page mentions %s", c.name, other.login)
				}
			}

			// HTML: the same content, a strict CSP, no caching.
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
			req.Header.Set("Accept", "text/html")
			resp, err = c.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			html, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") || strings.Contains(csp, "unsafe") {
				t.Errorf("CSP = %q, want default-src 'none' and a hashed style", csp)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			for _, tl := range shown {
				if !strings.Contains(string(html), "<code>"+tl+"</code>") {
					t.Errorf("HTML page lacks tool %s", tl)
				}
			}
			if strings.Contains(string(html), "<script") || strings.Contains(string(html), "src=") {
				t.Errorf("HTML page loads something: %s", html)
			}
		})
	}
}

// TestBrowserOpensMCP: a browser opening /mcp is sent to the identity
// page, not into an event stream that never ends; /.well-known/* is a
// JSON 404 and never asks for a token.
func TestBrowserOpensMCPAndWellKnown(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tn.hostURL+"/mcp", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("browser GET /mcp = %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}

	for _, path := range []string{
		"/.well-known/oauth-authorization-server",
		"/.well-known/oauth-protected-resource",
		"/.well-known/oauth-protected-resource/mcp",
		"/.well-known/openid-configuration",
	} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tn.hostURL+path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var v map[string]any
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &v) != nil {
				t.Errorf("GET %s = %d %s %q, want 404 with a JSON body", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if resp.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("GET %s asks for authentication: %q", path, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestIdentityPageInChromium loads the page in headless Chromium through
// each caller's own tailnet node (an HTTP proxy on loopback that dials
// through the node): the rendered DOM shows that identity and exactly its
// tools. A phone-sized screenshot of each is written to
// $SCREENSHOT_DIR when set (otherwise to the test's temp dir).
func TestIdentityPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	host := startPageHost(ctx, t, tn, "page-browser")
	url := "http://" + host.TailnetIP().String() + "/"
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	want := map[string][]string{"alice": {"boom", "fails", "whoami"}, "bob": {"whoami"}, "ci": {"boom"}}
	for _, c := range tn.callers() {
		t.Run(c.name, func(t *testing.T) {
			proxy := serveLoopback(t, relayThrough(t, c, ""))
			run := func(args ...string) string {
				cmd := exec.CommandContext(ctx, chromium, append([]string{
					"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
					"--no-first-run", "--user-data-dir=" + t.TempDir(),
					"--proxy-server=http://" + proxy, "--proxy-bypass-list=<-loopback>",
				}, args...)...)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("chromium %v: %v", args, err)
				}
				return string(out)
			}
			dom := run("--dump-dom", url)
			who := c.login
			if who == "" {
				who = strings.Join(c.tags, ", ")
			}
			if !strings.Contains(dom, "tsmcp sees you as "+who) {
				t.Errorf("DOM does not show %s:\n%s", who, dom)
			}
			var shown []string
			for _, part := range strings.Split(dom, "<li><code>")[1:] {
				name, _, _ := strings.Cut(part, "</code>")
				shown = append(shown, name)
			}
			// Tools come first, then prompts and resources (none here).
			if !slices.Equal(shown, want[c.name]) {
				t.Errorf("DOM lists %q, want exactly %q", shown, want[c.name])
			}
			shot := filepath.Join(shots, "identity-page-"+c.name+".png")
			run("--screenshot="+shot, "--window-size=390,844", "--hide-scrollbars", url)
			if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
				t.Errorf("no screenshot at %s: %v", shot, err)
			}
		})
	}
}

// chromiumPath returns Debian's chromium. When it is missing the test
// fails if CI is set (.ci/run installs it) and is skipped otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed; run: apt-get install chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so .ci/run must install it)")
	}
	t.Skip(msg)
	return ""
}
