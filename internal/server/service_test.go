package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/pires/go-proxyproto"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/tools"
)

// The Service the replica tests serve.
const (
	testService     = "svc:mcp"
	testServiceFQDN = "mcp." + devnet.MagicDNSDomain
	testServiceURL  = "http://" + testServiceFQDN
)

// testServiceVIP is the Service's virtual IP on the devnet.
var testServiceVIP = netip.MustParseAddr("100.99.0.1")

// tallyLog records, across replicas, which replica ran each tally call.
type tallyLog struct {
	mu  sync.Mutex // guards the field below
	ran map[int][]string
}

// tallyProvider has one tool, "tally", that records its argument n with
// the name of the replica that ran it and answers "<replica>:<n>".
type tallyProvider struct {
	replica string
	log     *tallyLog
}

func (p tallyProvider) Name() string { return "tally" }
func (p tallyProvider) Close() error { return nil }
func (p tallyProvider) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{{
		Tool: mcpgo.NewTool("tally", mcpgo.WithNumber("n", mcpgo.Required())),
		Handler: func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			n := req.GetInt("n", -1)
			p.log.mu.Lock()
			p.log.ran[n] = append(p.log.ran[n], p.replica)
			p.log.mu.Unlock()
			return mcpgo.NewToolResultText(fmt.Sprintf("%s:%d", p.replica, n)), nil
		},
	}}, nil
}

// replicaSet is a devnet with two tsmcp replicas serving testService, and
// two callers that accept routes: alice, whom a grant with dst
// svc:mcp allows whoami and tally, and bob, whom nothing allows anything.
type replicaSet struct {
	net        *devnet.Network
	a, b       *server.Server
	logsA      *logBuffer
	logsB      *logBuffer
	keyA, keyB key.NodePublic
	alice, bob caller
	tally      *tallyLog
	// aliceHC is one HTTP client for alice's polling and looping calls:
	// each tsnet HTTPClient has its own connection pool.
	aliceHC *http.Client
}

// aDrain is replica A's tailnet.service_drain: long enough for the test to
// move the Service's route while A still serves, however loaded the
// machine.
const aDrain = 20 * time.Second

func startReplicaSet(ctx context.Context, t *testing.T) *replicaSet {
	t.Helper()
	n, err := devnet.Start(devnet.Options{Tags: []string{"tag:mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	rs := &replicaSet{net: n, logsA: &logBuffer{}, logsB: &logBuffer{}, tally: &tallyLog{ran: map[int][]string{}}}
	for _, c := range []struct {
		dst  *caller
		name string
	}{{&rs.alice, "svc-alice"}, {&rs.bob, "svc-bob"}} {
		nd, err := n.NewNode(ctx, devnet.NodeOptions{Hostname: c.name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		if err := devnet.AcceptRoutes(ctx, nd); err != nil {
			t.Fatal(err)
		}
		st, err := nd.Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		*c.dst = caller{name: c.name, node: nd, login: st.User[st.Self.UserID].LoginName}
	}
	// A grant with dst ["svc:mcp"]: control compiles it into a capability
	// grant whose destination is the Service's VIP. The replicas see it
	// when they join.
	rs.aliceHC = rs.alice.httpClient()
	n.SetServiceCaps(rs.alice.node.IP, testServiceVIP, tailcfg.PeerCapMap{
		acl.DefaultCapability: {`{"tools":["whoami","tally"]}`},
	})
	start := func(name string, logs *logBuffer, drain time.Duration) *server.Server {
		host, err := startHost(ctx, n, name, logs, func(c *config.Config, o *server.Options) {
			c.Tailnet.Service = testService
			c.Tailnet.ServiceDrain = drain
			c.MCP.SessionKey = strings.Repeat("5e", 32) // shared by the replicas
			c.ACL.Rules = nil                           // only grants allow anything
			o.Tools = server.Providers(tools.Builtin{}, tallyProvider{replica: name, log: rs.tally})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		return host
	}
	defer func() {
		if t.Failed() {
			t.Logf("replica A's log:\n%s\nreplica B's log:\n%s", rs.logsA.String(), rs.logsB.String())
		}
	}()
	rs.a = start("replica-a", rs.logsA, aDrain)
	rs.b = start("replica-b", rs.logsB, 0)
	if rs.keyA, err = n.NodeKeyOf("replica-a"); err != nil {
		t.Fatal(err)
	}
	if rs.keyB, err = n.NodeKeyOf("replica-b"); err != nil {
		t.Fatal(err)
	}
	if err := n.HostService(testService, testServiceVIP, rs.keyA, rs.keyB); err != nil {
		t.Fatal(err)
	}
	// Each caller learns the route and the DNS name with its own netmap:
	// wait on every node that dials the Service, not only alice's.
	for _, c := range []caller{rs.alice, rs.bob} {
		if err := devnet.WaitRoute(ctx, c.node, testServiceVIP, rs.keyA); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := devnet.WaitDial(ctx, c.node, testServiceFQDN+":80"); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	// The replicas learn the VIP (service-host capability) with their next
	// netmaps: poll until a call goes through.
	rs.waitServed(ctx, t, "replica-a")
	return rs
}

// waitServed polls with alice's tally calls through the Service name until
// one is answered by replica want.
func (rs *replicaSet) waitServed(ctx context.Context, t *testing.T, want string) {
	t.Helper()
	var last error
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		got, err := rs.tallyOnce(actx, -1)
		cancel()
		if err == nil && strings.HasPrefix(got, want+":") {
			return
		}
		if last == nil || ctx.Err() == nil {
			last = fmt.Errorf("answer %q, err %v", got, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("the Service never answered from %s: %v", want, last)
}

// tallyOnce calls tally(n) through the Service name as alice, in a fresh
// stateless go-sdk session.
func (rs *replicaSet) tallyOnce(ctx context.Context, n int) (string, error) {
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-svc-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: testServiceURL + "/mcp", HTTPClient: rs.aliceHC, MaxRetries: -1}, nil)
	if err != nil {
		return "", err
	}
	defer cs.Close()
	return callTally(ctx, cs, n)
}

func callTally(ctx context.Context, cs *sdk.ClientSession, n int) (string, error) {
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "tally", Arguments: map[string]any{"n": n}})
	if err != nil {
		return "", err
	}
	if res.IsError || len(res.Content) != 1 {
		return "", fmt.Errorf("tally: tool error %v", res.Content)
	}
	tc, ok := res.Content[0].(*sdk.TextContent)
	if !ok {
		return "", fmt.Errorf("tally: content %T", res.Content[0])
	}
	return tc.Text, nil
}

// TestServiceReplicas runs two tsmcp replicas serving one Tailscale
// Service on the in-process tailnet and drives them through the
// Service's name.
func TestServiceReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rs := startReplicaSet(ctx, t)
	defer func() {
		if t.Failed() {
			t.Logf("replica A's log:\n%s\nreplica B's log:\n%s", rs.logsA.String(), rs.logsB.String())
		}
	}()

	// Every client library sees the caller's own identity through the
	// Service: not the Service's, not the replica's.
	t.Run("whoami through the service name", func(t *testing.T) {
		for _, lib := range clientLibs {
			t.Run(lib.name, func(t *testing.T) {
				s := lib.connect(ctx, t, rs.alice, testServiceURL)
				defer s.close()
				w, err := s.whoami(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if w.Login != rs.alice.login || !strings.HasPrefix(w.Node, "svc-alice.") || w.TailnetIP != rs.alice.node.IP.String() || len(w.Tags) != 0 {
					t.Fatalf("whoami through %s = %+v, want alice (%s, node svc-alice, %s)", testService, w, rs.alice.login, rs.alice.node.IP)
				}
			})
		}
	})

	t.Run("the TypeScript SDK through the service name", func(t *testing.T) {
		typeScriptThroughService(ctx, t, rs)
	})

	// The grant's dst is the Service: it reaches the decision for
	// requests through the Service (WhoIsForService) and for nobody
	// else, and not for requests to a replica's own name (WhoIs).
	t.Run("a grant with dst svc reaches the decision", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			c    caller
			url  string
			want []string
		}{
			{name: "alice through the service", c: rs.alice, url: testServiceURL, want: []string{"tally", "whoami"}},
			{name: "bob through the service", c: rs.bob, url: testServiceURL, want: nil},
			{name: "alice at replica A's own address", c: rs.alice, url: "http://" + rs.a.TailnetIP().String(), want: nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := connectSDK(false)(ctx, t, tt.c, tt.url)
				defer s.close()
				got, err := s.listTools(ctx)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("tools = %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("a foreign Host through the service is refused", func(t *testing.T) {
		for _, tt := range []struct {
			name, host string
			want       int
		}{
			{name: "service name", host: testServiceFQDN, want: http.StatusOK},
			{name: "service VIP", host: testServiceVIP.String(), want: http.StatusOK},
			{name: "replica's own name", host: "replica-a." + devnet.MagicDNSDomain, want: http.StatusForbidden},
			{name: "rebound name", host: "evil.example.com", want: http.StatusForbidden},
		} {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, testServiceURL+"/mcp",
					strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+statelessMeta+`}}`))
				req.Host = tt.host
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
				req.Header.Set("Mcp-Method", "tools/list")
				resp, err := rs.aliceHC.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("Host %s: status %d, want %d", tt.host, resp.StatusCode, tt.want)
				}
			})
		}
	})

	t.Run("a forged PROXY header from another process is refused", func(t *testing.T) {
		testForgedProxyFromChild(ctx, t, rs)
	})

	t.Run("loopback connections without a valid PROXY header are refused", func(t *testing.T) {
		testLoopbackNeedsProxyHeader(ctx, t, rs)
	})

	t.Run("drain moves calls to the other replica, none lost or run twice", func(t *testing.T) {
		testServiceDrain(ctx, t, rs)
	})
}

// forgeProxyEnv, when set ("<loopback addr> <source IP> <destination IP>"),
// makes the test binary a forger: it connects to the loopback address,
// sends a PROXY v2 header naming the source and destination IPs and a
// whoami call, and prints the answer.
const forgeProxyEnv = "TSMCP_TEST_FORGE_PROXY"

// runForgeProxy is the forger child's main.
func runForgeProxy(spec string) {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Println("no answer: bad spec", spec)
		return
	}
	fmt.Println(forgeProxy(f[0], f[1], f[2]))
}

// forgeProxy connects to addr as a tailnet caller at src would arrive
// from tsnet's serve path, asks whoami, and reports what came back: the
// status line of an answer, or "no answer: <error>".
func forgeProxy(addr, src, dst string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h := &proxyproto.Header{
		Version:           2,
		Command:           proxyproto.PROXY,
		TransportProtocol: proxyproto.TCPv4,
		SourceAddr:        &net.TCPAddr{IP: net.ParseIP(src), Port: 40000},
		DestinationAddr:   &net.TCPAddr{IP: net.ParseIP(dst), Port: 80},
	}
	hdr, err := h.Format()
	if err != nil {
		return "no answer: " + err.Error()
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{},` + statelessMeta + `}}`
	req := "POST /mcp HTTP/1.1\r\nHost: " + testServiceFQDN + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" +
		"Mcp-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: whoami\r\n" +
		fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if _, err := c.Write(append(hdr, req...)); err != nil {
		return "no answer: " + err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return "answer: " + resp.Status + " " + string(b)
}

// testForgedProxyFromChild: a process on the same host, running as the
// same user (a child of this one, as a bridged stdio server is), connects
// to replica A's loopback Service socket with a PROXY v2 header naming
// alice's tailnet IP (whom a grant allows whoami) and is refused before
// any request is read; the replica logs why.
func testForgedProxyFromChild(ctx context.Context, t *testing.T, rs *replicaSet) {
	addr := rs.a.ServiceLoopbackAddr()
	if addr == nil {
		t.Fatal("replica A has no Service loopback address")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), forgeProxyEnv+"="+addr.String()+" "+rs.alice.node.IP.String()+" "+rs.a.TailnetIP().String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("forger: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "no answer:") {
		t.Fatalf("the forger got an answer posing as alice: %s", out)
	}
	waitLog(ctx, t, rs.logsA, "refused a connection on the service's loopback socket", "belongs to another process")
}

// testLoopbackNeedsProxyHeader: connections from this very process (the
// only one whose connections pass the owner check) are refused unless
// they start with a PROXY v2 header naming a tailnet source.
func testLoopbackNeedsProxyHeader(ctx context.Context, t *testing.T, rs *replicaSet) {
	addr := rs.a.ServiceLoopbackAddr().String()
	header := func(version byte, cmd proxyproto.ProtocolVersionAndCommand, src string) []byte {
		c, err := net.Dial("tcp", addr) // only for the destination address
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		h := &proxyproto.Header{Version: version, Command: cmd, TransportProtocol: proxyproto.TCPv4,
			SourceAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, DestinationAddr: c.RemoteAddr()}
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	request := "GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: " + testServiceFQDN + "\r\nConnection: close\r\n\r\n"
	for _, tt := range []struct {
		name    string
		prefix  []byte
		wantLog string
	}{
		{name: "no PROXY header", prefix: nil, wantLog: "no valid PROXY header"},
		{name: "PROXY v1", prefix: header(1, proxyproto.PROXY, rs.alice.node.IP.String()), wantLog: "want version 2 PROXY"},
		{name: "PROXY v2 LOCAL", prefix: header(2, proxyproto.LOCAL, rs.alice.node.IP.String()), wantLog: "want version 2 PROXY"},
		{name: "PROXY v2 from outside the tailnet", prefix: header(2, proxyproto.PROXY, "192.0.2.7"), wantLog: "is not a tailnet address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(append(tt.prefix, request...)); err != nil {
				t.Fatal(err)
			}
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				resp.Body.Close()
				t.Fatalf("answered: %s", resp.Status)
			}
			waitLog(ctx, t, rs.logsA, "refused a connection on the service's loopback socket", tt.wantLog)
		})
	}
	// The control: the same request with a valid header from this process
	// is answered (the serve path's connections look like this).
	t.Run("valid PROXY v2 from this process", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(append(header(2, proxyproto.PROXY, rs.alice.node.IP.String()), request...)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			t.Fatalf("status %s", resp.Status)
		}
	})
}

// waitLog waits until logs has a line containing every one of want.
func waitLog(ctx context.Context, t *testing.T, logs *logBuffer, want ...string) {
	t.Helper()
	for {
		for line := range strings.Lines(logs.String()) {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no log line with %q", want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tallyAnswer is one call of the drain test's loop.
type tallyAnswer struct {
	text string
	err  error
}

// testServiceDrain: alice calls tally in a loop through the Service name
// (a stateless 2026-07-28 go-sdk session), numbering each call. Replica A
// is stopped: it withdraws its advertisement and /readyz turns 503, keeps
// answering, control moves the route to B, calls go to B, A finishes its
// drain and stops, calls still go to B. Every call is answered once, by
// the replica that ran it, and ran exactly once.
//
// The route moves between two calls (the loop holds callMu during a
// call): a TCP connection in flight at the instant the tailnet's route
// for the VIP moves breaks (its packets reach the other host), whatever
// the replicas do.
func testServiceDrain(ctx context.Context, t *testing.T, rs *replicaSet) {
	client := sdk.NewClient(&sdk.Implementation{Name: "tsmcp-svc-drain", Version: "1"}, nil)
	// A client of its own: no connection kept alive from earlier tests.
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: testServiceURL + "/mcp", HTTPClient: rs.alice.httpClient(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	var (
		callMu  sync.Mutex // held during a call
		mu      sync.Mutex // guards answers
		answers []tallyAnswer
	)
	stop := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			callMu.Lock()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			text, err := callTally(cctx, cs, i)
			cancel()
			callMu.Unlock()
			mu.Lock()
			answers = append(answers, tallyAnswer{text, err})
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-loopDone
	}()
	// waitAnswers waits until a call numbered from first on was answered
	// by replica; it returns the number of calls made so far.
	waitAnswers := func(first int, replica string) int {
		t.Helper()
		for {
			mu.Lock()
			n := len(answers)
			found := false
			for i := first; i < n; i++ {
				if strings.HasPrefix(answers[i].text, replica+":") {
					found = true
				}
			}
			mu.Unlock()
			if found {
				return n
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no call from #%d on answered by %s", first, replica)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitAnswers(0, "replica-a")
	checkSession := openLegacySession(ctx, t, rs)

	aStopped := make(chan struct{})
	go func() {
		defer close(aStopped)
		rs.a.Close()
	}()
	waitLog(ctx, t, rs.logsA, "service drain: advertisement withdrawn; still serving")
	if code, body := get(t, http.DefaultClient, "http://"+rs.a.HealthAddr().String()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("replica A's /readyz during the drain: %d %q, want 503", code, body)
	}
	if code, body := get(t, http.DefaultClient, "http://"+rs.b.HealthAddr().String()+"/readyz"); code != http.StatusOK {
		t.Errorf("replica B's /readyz: %d %q, want 200", code, body)
	}
	mu.Lock()
	withdrawnAt := len(answers)
	mu.Unlock()
	// A keeps answering after the withdrawal, until the route moves.
	waitAnswers(withdrawnAt, "replica-a")

	callMu.Lock()
	rs.net.MoveService(testServiceVIP, rs.keyA, rs.keyB)
	err = devnet.WaitRoute(ctx, rs.alice.node, testServiceVIP, rs.keyB)
	callMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	movedAt := len(answers)
	mu.Unlock()
	waitAnswers(movedAt, "replica-b")
	checkSession()

	select {
	case <-aStopped:
	case <-ctx.Done():
		t.Fatal("replica A did not stop")
	}
	waitLog(ctx, t, rs.logsA, "service drain: over")
	mu.Lock()
	stoppedAt := len(answers)
	mu.Unlock()
	waitAnswers(stoppedAt, "replica-b")
	close(stop)
	<-loopDone

	mu.Lock()
	defer mu.Unlock()
	rs.tally.mu.Lock()
	defer rs.tally.mu.Unlock()
	byReplica := map[string]int{}
	for i, a := range answers {
		if a.err != nil {
			t.Errorf("call #%d: %v", i, a.err)
			continue
		}
		replica, num, _ := strings.Cut(a.text, ":")
		if num != fmt.Sprint(i) {
			t.Errorf("call #%d answered %q", i, a.text)
		}
		if ran := rs.tally.ran[i]; len(ran) != 1 || ran[0] != replica {
			t.Errorf("call #%d answered by %s, ran on %v", i, replica, ran)
		}
		byReplica[replica]++
	}
	t.Logf("%d calls: %v; withdrawn after call %d, route moved after call %d, A stopped after call %d",
		len(answers), byReplica, withdrawnAt, movedAt, stoppedAt)
}
