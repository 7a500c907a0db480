package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appsHostState is what interop/apps/host.mjs (the test's Apps host page)
// records in window.appsHost.
type appsHostState struct {
	Steps           []string `json:"steps"`
	Done            bool     `json:"done"`
	Error           string   `json:"error"`
	Tools           []string `json:"tools"`
	Tool            string   `json:"tool"`
	ResourceURI     string   `json:"resourceUri"`
	FlatResourceURI string   `json:"flatResourceUri"`
	ContentURI      string   `json:"contentUri"`
	MIMEType        string   `json:"mimeType"`
	Result          struct {
		Time string `json:"time"`
	} `json:"result"`
}

// TestMCPAppsInChromium renders the Apps server's view in headless
// Chromium through tsmcp, as an Apps host does: a page served on loopback
// (interop/apps/host.mjs, bundled with esbuild) talks MCP through the
// test's relay, which reaches the host through alice's tailnet node, with
// the official TypeScript SDK client; it lists the tools, reads the ui://
// resource the tool's _meta names, renders it in a sandboxed iframe
// through ext-apps' AppBridge, calls the tool and hands the view its
// result. The view's own DOM, read over the DevTools protocol, shows the
// time the tool returned. For the upstream bridged with prefix: false the
// view's own button then calls get-time through the bridge (an app's
// tools/call names the upstream's tool names). A screenshot of each is
// written to $SCREENSHOT_DIR when set (otherwise to the test's temp dir).
func TestMCPAppsInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	dir := appsDir(t)
	bundle := bundleAppsHost(t, dir)
	tn := startTailnet(t)
	alice := tn.callers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	logs := &logBuffer{}
	host := startAppsHost(ctx, t, tn, logs, []aclRule{
		{src: alice.login, tools: all, resources: []string{"ui://apps+*", "ui://get-time/*"}},
	})
	page := appsRelay(t, dir, bundle, "http://"+host.TailnetIP().String(), alice)
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}

	for _, tt := range []struct {
		name, tool, uri string
		click           bool // the view's own button calls get-time
	}{
		{name: "prefixed", tool: "apps__get-time", uri: appsServedUIURI},
		{name: "unprefixed", tool: "get-time", uri: appsUIURI, click: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			b := startCDPBrowser(t, chromium, page+"?tool="+url.QueryEscape(tt.tool))
			pageSess, err := b.attach(ctx, func(ti cdpTarget) bool {
				return ti.Type == "page" && strings.HasPrefix(ti.URL, page)
			})
			if err != nil {
				t.Fatal(err)
			}
			var st appsHostState
			if err := b.poll(ctx, pageSess, "window.appsHost && window.appsHost.done ? window.appsHost : null", &st,
				func() bool { return st.Done }); err != nil {
				t.Fatal(err)
			}
			t.Logf("host page: %q", st.Steps)
			if st.Error != "" {
				t.Fatalf("the host page failed: %s\ntools: %q", st.Error, st.Tools)
			}
			if st.Tool != tt.tool || st.ResourceURI != tt.uri || st.FlatResourceURI != tt.uri || st.ContentURI != tt.uri || st.MIMEType != appsMIMEType {
				t.Errorf("host page saw tool %q naming %q (flat key %q), read as %q %q; want %q naming %q, %s",
					st.Tool, st.ResourceURI, st.FlatResourceURI, st.ContentURI, st.MIMEType, tt.tool, tt.uri, appsMIMEType)
			}
			if _, err := time.Parse(time.RFC3339Nano, st.Result.Time); err != nil {
				t.Fatalf("the tool returned time %q: %v", st.Result.Time, err)
			}

			// The view, a sandboxed srcdoc iframe: a target of its own.
			view, err := b.attach(ctx, func(ti cdpTarget) bool {
				return ti.Type == "iframe" && ti.URL == "about:srcdoc"
			})
			if err != nil {
				t.Fatal(err)
			}
			const serverTime = `document.getElementById("server-time")?.textContent ?? ""`
			var shown string
			if err := b.poll(ctx, view, serverTime, &shown, func() bool { return shown == st.Result.Time }); err != nil {
				t.Fatalf("the view shows %q, want the tool's time %q: %v", shown, st.Result.Time, err)
			}
			var text string
			if err := b.eval(ctx, view, "document.body.innerText", &text); err != nil {
				t.Fatal(err)
			}
			if text = strings.Join(strings.Fields(text), " "); !strings.Contains(text, "Server Time: "+st.Result.Time) || !strings.Contains(text, "Get Server Time") {
				t.Errorf("the view's text is %q", text)
			}

			if tt.click {
				calls := func() int {
					n := 0
					for _, l := range logs.JSONLines("tool_call") {
						if l["tool"] == "get-time" && l["outcome"] == "ok" {
							n++
						}
					}
					return n
				}
				before := calls()
				if err := b.eval(ctx, view, `document.getElementById("get-time-btn").click()`, new(any)); err != nil {
					t.Fatal(err)
				}
				if err := b.poll(ctx, view, serverTime, &shown, func() bool { return shown != st.Result.Time }); err != nil {
					t.Fatal(err)
				}
				if _, err := time.Parse(time.RFC3339Nano, shown); err != nil {
					t.Errorf("after its button, the view shows %q: %v", shown, err)
				}
				if after := calls(); after != before+1 {
					t.Errorf("%d get-time calls audited after the view's button, want %d", after, before+1)
				}
			}

			var shot struct {
				Data string `json:"data"`
			}
			raw, err := b.call(ctx, pageSess, "Page.captureScreenshot", map[string]any{"format": "png"})
			if err == nil {
				err = json.Unmarshal(raw, &shot)
			}
			png, derr := base64.StdEncoding.DecodeString(shot.Data)
			if err != nil || derr != nil || len(png) == 0 {
				t.Errorf("screenshot: %v %v", err, derr)
			} else if err := os.WriteFile(filepath.Join(shots, "mcp-app-"+tt.name+".png"), png, 0o644); err != nil {
				t.Error(err)
			}
			t.Logf("rendered %s through tsmcp in %v", st.ResourceURI, time.Since(start).Round(time.Millisecond))
		})
	}
}

// bundleAppsHost bundles interop/apps/host.mjs and what it imports (the
// TypeScript SDK client, ext-apps' AppBridge) for the browser with the
// esbuild that `npm ci --prefix interop/apps` installs, and returns the
// bundle's path.
func bundleAppsHost(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "host.js")
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", "esbuild"), "host.mjs",
		"--bundle", "--format=esm", "--platform=browser", "--log-level=warning", "--outfile="+out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild host.mjs: %v\n%s", err, b)
	}
	return out
}

// appsRelay serves the Apps host page on loopback, and /mcp on the same
// origin relayed to hostURL through c's tailnet node: the page's MCP
// requests reach tsmcp as c's. It plays the host application's own
// server, as a browser-based MCP client's proxy does: the page's Origin
// (loopback) stays behind, since tsmcp refuses a foreign one. It returns
// the page's URL.
func appsRelay(t *testing.T, dir, bundle, hostURL string, c caller) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", relayThrough(t, c, hostURL, "Origin", "Referer"))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "host.html"))
	})
	mux.HandleFunc("GET /host.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, bundle)
	})
	return "http://" + serveLoopback(t, mux) + "/"
}
