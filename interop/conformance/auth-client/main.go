// Command auth-client runs tsmcp's host as the client of the official MCP
// conformance suite's client authorization scenarios
// (`conformance client --suite auth --command "auth-client"`, see
// docs/conformance.md): the suite runs it with the scenario server's MCP
// URL as its last argument, the scenario's name in
// MCP_CONFORMANCE_SCENARIO and, for a scenario whose authorization server
// has a pre-registered client, that client in MCP_CONFORMANCE_CONTEXT.
//
// It starts `tsmcp dev`'s playground in-process (an in-process tailnet,
// the host, and the demo identities' nodes with their loopback
// endpoints) with the scenario's server bridged as upstream "conf" with
// auth (type oauth; the pre-registered client when there is one), a
// credential key, and a policy letting alice (and nobody else) use it.
// Then it plays alice, through her own tailnet node only:
//
//   - as an MCP client of her endpoint it lists the tools; before anybody
//     connected, the host lists none of conf's and her identity page
//     offers Connect;
//   - as her browser it opens the connect link: the host sends it to the
//     scenario's authorization server, which approves at once and sends
//     it back to http://<host>/oauth/callback, which the browser reaches
//     through her node (her loopback endpoint), so the host sees her;
//   - it waits until the host lists conf's tools and calls the first; a
//     call the host answers with the connect link (a -32042 URL
//     elicitation, or a tool error with the link: step-up authorization)
//     is answered by opening the link again and calling again.
//
// It exits 1 on any error, and 0 once the call went through.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/playground"
)

// upstream is the name the scenario's server is bridged under.
const upstream = "conf"

// hostName is the playground host's tailnet hostname.
const hostName = "tsmcp"

// player is the demo identity that plays the user.
const player = "alice"

// maxConnects bounds how often alice follows a connect link in one run:
// the host decides when to stop asking (its step-up limit), this only
// keeps a broken host from looping.
const maxConnects = 6

// toolsWait bounds the wait for the upstream's tools once alice
// connected: an upstream that refuses every token (the scope-retry-limit
// scenario) is never listed.
const toolsWait = 30 * time.Second

// runTimeout bounds the whole run (the suite's --timeout must be longer).
const runTimeout = 100 * time.Second

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: auth-client MCP-URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := run(ctx, log, os.Args[len(os.Args)-1]); err != nil {
		fmt.Fprintln(os.Stderr, "auth-client:", err)
		os.Exit(1)
	}
}

// preRegistered is the client a scenario passes in MCP_CONFORMANCE_CONTEXT.
type preRegistered struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func run(ctx context.Context, log *slog.Logger, mcpURL string) error {
	log.Info("scenario", "name", os.Getenv("MCP_CONFORMANCE_SCENARIO"), "url", mcpURL)
	var pre preRegistered
	if s := os.Getenv("MCP_CONFORMANCE_CONTEXT"); s != "" {
		if err := json.Unmarshal([]byte(s), &pre); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "tsmcp-auth-client-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := hostConfig(dir, mcpURL, pre)
	if err != nil {
		return err
	}

	epFile := filepath.Join(dir, "endpoints.json")
	pgCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- playground.Run(pgCtx, playground.Options{Config: cfg, Out: io.Discard, Logger: log.With("log", "host"), EndpointsFile: epFile})
	}()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				log.Error("the playground stopped with an error", "err", err)
			}
		case <-time.After(20 * time.Second):
			log.Error("the playground did not stop within 20s")
		}
	}()
	eps, err := waitEndpoints(ctx, epFile, done)
	if err != nil {
		return err
	}
	var me playground.Identity
	for _, id := range eps.Identities {
		if id.Name == player {
			me = id
		}
	}
	if me.MCP == "" {
		return fmt.Errorf("the playground has no endpoint for %s", player)
	}
	a, err := newAlice(ctx, log, me, eps.Host)
	if err != nil {
		return err
	}
	defer a.mcp.Close()
	return a.play(ctx)
}

// hostConfig is the host's configuration: the scenario's server bridged
// as upstream conf with auth, for alice only. It is written as YAML and
// loaded as `tsmcp dev --config` would, so it is checked the same way.
func hostConfig(dir, mcpURL string, pre preRegistered) (*config.Config, error) {
	key := make([]byte, 32)
	rand.Read(key)
	alice, _ := playground.DemoPrincipal(player)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var auth strings.Builder
	auth.WriteString("      type: oauth\n")
	if pre.ClientID != "" {
		fmt.Fprintf(&auth, "      client_id: %s\n", q(pre.ClientID))
	}
	if pre.ClientSecret != "" {
		fmt.Fprintf(&auth, "      client_secret: %s\n", q(pre.ClientSecret))
	}
	yaml := fmt.Sprintf(`mcp:
  credential_key: %s
acl:
  rules:
    - src: [%s]
      tools: ["%s__*"]
upstreams:
  - name: %s
    url: %s
    timeout: 10s
    auth:
%s`, q(hex.EncodeToString(key)), q(alice), upstream, upstream, q(mcpURL), auth.String())
	file := filepath.Join(dir, "tsmcp.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.LoadOptions{File: file})
	if err != nil {
		return nil, fmt.Errorf("the host's configuration: %w", err)
	}
	return cfg, nil
}

// waitEndpoints waits for the playground's endpoints file.
func waitEndpoints(ctx context.Context, file string, done <-chan error) (playground.Endpoints, error) {
	for {
		var eps playground.Endpoints
		if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &eps) == nil && len(eps.Identities) > 0 {
			return eps, nil
		}
		select {
		case err := <-done:
			return eps, fmt.Errorf("the playground stopped before it was ready: %v", err)
		case <-ctx.Done():
			return eps, fmt.Errorf("the playground was not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alice is the user: an MCP client of her endpoint and her browser.
type alice struct {
	log     *slog.Logger
	id      playground.Identity
	mcp     *client.Client
	browser *http.Client
	// connects counts the connect links followed.
	connects int
}

func newAlice(ctx context.Context, log *slog.Logger, id playground.Identity, hostIP string) (*alice, error) {
	endpoint, err := url.Parse(id.Page)
	if err != nil {
		return nil, err
	}
	a := &alice{log: log.With("log", "alice"), id: id}
	page, err := a.page(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	// The host's names: its tailnet address and its MagicDNS name (the
	// playground's host is "tsmcp" on devnet's domain), which its redirect
	// URL and connect links carry.
	hosts := map[string]bool{hostIP: true, hostName + "." + devnet.MagicDNSDomain: true}
	if u, err := url.Parse(page.FullURL); err == nil && u.Hostname() != "" {
		hosts[strings.ToLower(u.Hostname())] = true
	}
	a.browser = &http.Client{Timeout: 20 * time.Second, Transport: &throughNode{endpoint: endpoint, host: hosts}}

	c, err := client.NewStreamableHttpClient(id.MCP)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "tsmcp-auth-client", Version: "1"}
	// A client that can open links: the host answers it -32042 with the
	// connect link.
	init.Params.Capabilities.Elicitation = &mcp.ElicitationCapability{URL: &struct{}{}}
	if _, err := c.Initialize(ctx, init); err != nil {
		c.Close()
		return nil, fmt.Errorf("initializing a session at %s: %w", id.MCP, err)
	}
	a.mcp = c
	return a, nil
}

// play connects the upstream from alice's identity page, waits for its
// tools and calls the first, connecting again whenever the host asks.
func (a *alice) play(ctx context.Context) error {
	tools, err := a.upstreamTools(ctx)
	if err != nil {
		return err
	}
	if len(tools) == 0 {
		endpoint, _ := url.Parse(a.id.Page)
		page, err := a.page(ctx, endpoint)
		if err != nil {
			return err
		}
		link := ""
		for _, c := range page.Connections {
			if c.Upstream == upstream {
				link = endpoint.ResolveReference(&url.URL{Path: c.URL}).String()
			}
		}
		if link == "" {
			return fmt.Errorf("alice's identity page offers no connection to %s: %+v", upstream, page.Connections)
		}
		if err := a.connect(ctx, link); err != nil {
			return err
		}
		if tools, err = a.waitTools(ctx); err != nil {
			return err
		}
	}
	a.log.Info("tools listed", "tools", len(tools), "first", tools[0].Name)
	for {
		req := mcp.CallToolRequest{}
		req.Params.Name = tools[0].Name
		res, err := a.mcp.CallTool(ctx, req)
		link, lerr := connectLink(res, err)
		if lerr != nil {
			return lerr
		}
		if link == "" {
			a.log.Info("the call went through", "tool", tools[0].Name)
			return nil
		}
		a.log.Info("the host asks alice to connect", "tool", tools[0].Name, "link", link)
		if err := a.connect(ctx, link); err != nil {
			return err
		}
	}
}

// linkRE finds the connect link in a tool error's text.
var linkRE = regexp.MustCompile(`https?://[^\s"'<>()]+/connect/[^\s"'<>()]+`)

// connectLink returns the connect link of a call's answer ("" when the
// call went through), or the error that ended the call.
func connectLink(res *mcp.CallToolResult, err error) (string, error) {
	var ure mcp.URLElicitationRequiredError
	switch {
	case errors.As(err, &ure):
		for _, e := range ure.Elicitations {
			if e.Mode == mcp.ElicitationModeURL && e.URL != "" {
				return e.URL, nil
			}
		}
		return "", fmt.Errorf("the host asked for a URL elicitation without a URL: %v", err)
	case err != nil:
		return "", fmt.Errorf("calling the tool: %w", err)
	case res.IsError:
		text := resultText(res)
		if l := linkRE.FindString(text); l != "" {
			return strings.TrimRight(l, "."), nil
		}
		return "", fmt.Errorf("the tool answered an error: %s", text)
	}
	return "", nil
}

// resultText joins a result's text content.
func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// connect follows a connect link in alice's browser to the host's
// callback page, which must say she is connected.
func (a *alice) connect(ctx context.Context, link string) error {
	a.connects++
	if a.connects > maxConnects {
		return fmt.Errorf("the host asked alice to connect more than %d times", maxConnects)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := a.browser.Do(req)
	if err != nil {
		return fmt.Errorf("following the connect link: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/oauth/callback" {
		return fmt.Errorf("the connect link ended at %s with HTTP %d: %s", resp.Request.URL.Redacted(), resp.StatusCode, body)
	}
	a.log.Info("alice connected", "connects", a.connects)
	return nil
}

// upstreamTools lists the upstream's tools as alice sees them.
func (a *alice) upstreamTools(ctx context.Context) ([]mcp.Tool, error) {
	res, err := a.mcp.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing the tools: %w", err)
	}
	var out []mcp.Tool
	for _, t := range res.Tools {
		if strings.HasPrefix(t.Name, upstream+"__") {
			out = append(out, t)
		}
	}
	return out, nil
}

// waitTools waits until the host lists the upstream's tools (from the
// session of a connected identity: alice's).
func (a *alice) waitTools(ctx context.Context) ([]mcp.Tool, error) {
	ctx, cancel := context.WithTimeout(ctx, toolsWait)
	defer cancel()
	for {
		tools, err := a.upstreamTools(ctx)
		if err != nil || len(tools) > 0 {
			return tools, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the host never listed %s's tools after alice connected: %w", upstream, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// identityPage is the part of the host's identity page (as JSON) alice
// reads.
type identityPage struct {
	FullURL     string `json:"full_url"`
	Connections []struct {
		Upstream string `json:"upstream"`
		URL      string `json:"url"`
	} `json:"connections"`
}

// page reads alice's identity page.
func (a *alice) page(ctx context.Context, endpoint *url.URL) (identityPage, error) {
	var p identityPage
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint.String(), nil)
	if err != nil {
		return p, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return p, fmt.Errorf("alice's identity page: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("alice's identity page: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return p, fmt.Errorf("alice's identity page: %w", err)
	}
	return p, nil
}

// throughNode is alice's browser's network: loopback addresses (the
// scenario's servers, her endpoint) directly, and the host, by its
// tailnet name or address, through her endpoint, which forwards over
// her own tailnet node (so the host's WhoIs names her). Any other host is
// refused: nothing leaves the machine.
type throughNode struct {
	endpoint *url.URL
	host     map[string]bool
}

func (t *throughNode) RoundTrip(r *http.Request) (*http.Response, error) {
	h := strings.ToLower(r.URL.Hostname())
	if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
		return http.DefaultTransport.RoundTrip(r)
	}
	if !t.host[h] || r.URL.Scheme != "http" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("alice's browser does not go to %s://%s (not the host, not loopback)", r.URL.Scheme, r.URL.Host)
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host = t.endpoint.Scheme, t.endpoint.Host, t.endpoint.Host
	return http.DefaultTransport.RoundTrip(out)
}
