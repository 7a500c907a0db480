package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
	"github.com/tsmcp/tsmcp/internal/toolset"
)

// tailnet is an in-process tailnet with a tsmcp host and four callers:
// three users and a tagged node.
type tailnet struct {
	net   *devnet.Network
	host  *server.Server
	logs  *logBuffer
	alice *devnet.Node
	bob   *devnet.Node
	ci    *devnet.Node // tagged tag:ci
	carol *devnet.Node // a user no test policy names
	// hostURL is http://<host tailnet IP>.
	hostURL string
}

// logBuffer collects the host's JSON logs for assertions.
type logBuffer = testutil.Buffer

// testKeepalive is the shared host's ping interval, short so that a test
// can see a ping.
const testKeepalive = 300 * time.Millisecond

func testConfig(controlURL string) *config.Config {
	c := config.Default()
	c.Tailnet.Hostname = "tsmcp"
	c.Tailnet.ControlURL = controlURL
	c.Tailnet.State = "mem:"
	c.Tailnet.Ephemeral = true
	c.Tailnet.Tags = []string{"tag:mcp"}
	c.Health.Addr = "127.0.0.1:0"
	c.MCP.ShutdownGrace = 5 * time.Second
	c.MCP.Keepalive = testKeepalive
	c.ACL = acl.Config{
		Capability: acl.DefaultCapability,
		Rules:      []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}},
	}
	return c
}

var (
	sharedOnce sync.Once
	shared     *tailnet
	sharedErr  error
)

// startTailnet returns the package's shared tailnet, starting it on first
// use. Joining nodes takes seconds; tests that do not stop the host share
// it. It is torn down in TestMain.
func startTailnet(t *testing.T) *tailnet {
	t.Helper()
	tn, err := sharedTailnet()
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// sharedTailnet starts the shared tailnet once.
func sharedTailnet() (*tailnet, error) {
	sharedOnce.Do(func() { shared, sharedErr = newTailnet(nil) })
	return shared, sharedErr
}

// newTailnet builds a devnet, a host (with cfg adjusted by mod, if any) and
// the three callers.
func newTailnet(mod func(*config.Config, *server.Options)) (_ *tailnet, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp", "tag:ci"}})
	if err != nil {
		return nil, err
	}
	tn := &tailnet{net: n, logs: &logBuffer{}}
	defer func() {
		if err != nil {
			tn.Close()
		}
	}()
	tn.host, err = startHost(ctx, n, "tsmcp", tn.logs, mod)
	if err != nil {
		return nil, err
	}
	tn.hostURL = "http://" + tn.host.TailnetIP().String()
	for _, c := range []struct {
		dst  **devnet.Node
		name string
		tags []string
	}{
		{&tn.alice, "alice", nil},
		{&tn.bob, "bob", nil},
		{&tn.ci, "ci", []string{"tag:ci"}},
		{&tn.carol, "carol", nil},
	} {
		nd, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: c.name, Tags: c.tags})
		if err != nil {
			return nil, err
		}
		*c.dst = nd
	}
	return tn, nil
}

// newTestLogger logs JSON at debug level to logs.
func newTestLogger(logs *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newHost is server.New with, unless opts.Tools is set, the configured
// tools, as `tsmcp serve` builds them (internal/toolset).
func newHost(opts server.Options) (*server.Server, error) {
	if opts.Tools != nil {
		return server.New(opts)
	}
	ts, err := toolset.New(opts.Config, opts.Logger)
	if err != nil {
		return nil, err
	}
	opts.Tools = ts
	host, err := server.New(opts)
	if err != nil {
		ts.Close()
		return nil, err
	}
	return host, nil
}

// startHost starts a tsmcp host on n with testConfig (adjusted by mod, if
// any), logging as JSON to logs, and waits until it is ready.
func startHost(ctx context.Context, n *devnet.Network, hostname string, logs *logBuffer, mod func(*config.Config, *server.Options)) (*server.Server, error) {
	cfg := testConfig(n.ControlURL)
	cfg.Tailnet.Hostname = hostname
	opts := server.Options{
		Config: cfg,
		Logger: newTestLogger(logs),
	}
	if mod != nil {
		mod(cfg, &opts)
	}
	host, err := newHost(opts)
	if err != nil {
		return nil, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- host.Run(context.Background()) }()
	select {
	case <-host.Ready():
		return host, nil
	case err := <-runErr:
		return nil, fmt.Errorf("host stopped before ready: %v", err)
	case <-ctx.Done():
		host.Close()
		return nil, fmt.Errorf("host not ready: %w", ctx.Err())
	}
}

// Close stops the host, the callers and the network.
func (tn *tailnet) Close() {
	if tn.host != nil {
		tn.host.Close()
	}
	for _, nd := range []*devnet.Node{tn.alice, tn.bob, tn.ci, tn.carol} {
		if nd != nil {
			nd.Close()
		}
	}
	tn.net.Close()
}

// callers lists the caller nodes with the identity the host should see.
func (tn *tailnet) callers() []caller {
	return []caller{
		{name: "alice", node: tn.alice, login: tn.loginOf(tn.alice)},
		{name: "bob", node: tn.bob, login: tn.loginOf(tn.bob)},
		{name: "ci", node: tn.ci, tags: []string{"tag:ci"}},
	}
}

// carolCaller is a fourth user, whom no test policy names.
func (tn *tailnet) carolCaller() caller {
	return caller{name: "carol", node: tn.carol, login: tn.loginOf(tn.carol)}
}

// loginOf asks the control server which login it gave nd's user.
func (tn *tailnet) loginOf(nd *devnet.Node) string {
	st, err := nd.Up(context.Background())
	if err != nil {
		panic(err)
	}
	return st.User[st.Self.UserID].LoginName
}

type caller struct {
	name  string
	node  *devnet.Node
	login string   // "" for the tagged node
	tags  []string // nil for users
}

// httpClient returns a client that dials through the caller's tsnet node.
func (c caller) httpClient() *http.Client {
	return c.node.HTTPClient()
}

// get fetches url with hc and returns the status and body.
func get(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// streamableSession opens a go-sdk Streamable HTTP session to the host at
// endpoint as caller c; it is closed when the test ends.
func streamableSession(ctx context.Context, t *testing.T, endpoint string, c caller) *sdk.ClientSession {
	t.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-server-test", Version: "1"}, nil)
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.httpClient(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// toolNames lists the tools session s sees, sorted.
func toolNames(ctx context.Context, t *testing.T, s *sdk.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}
