package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/sys/unix"
)

// The container tests build nothing themselves: `make image-test` builds
// the images (image-static, image-runtime) and runs them with
//
//	TSMCP_IMAGE_TEST=1               run these tests (they are slow: off by default)
//	TSMCP_IMAGE_CONTAINER="podman …" the container CLI (default podman)
//	TSMCP_IMAGE_STATIC, _RUNTIME     the images (default tsmcp:static, tsmcp:runtime)
//
// Each container runs as tsmcp would in a private subnet without egress:
// --network none (loopback only; the test adds a dummy interface with no
// route, see addDummyInterface), --read-only root, --user 65532. `tsmcp
// dev` inside it runs the in-process tailnet; the test's MCP client
// reaches the loopback endpoints by dialing from inside the container's
// network namespace. Needs root, nsenter and ip (iproute2).

func imageTestEnv(t *testing.T) (cli []string, static, rt string) {
	t.Helper()
	if os.Getenv("TSMCP_IMAGE_TEST") == "" {
		t.Skip("container image tests run with `make image-test` (TSMCP_IMAGE_TEST=1)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the image tests enter the container's network namespace: run them as root")
	}
	cli = strings.Fields(cmp(os.Getenv("TSMCP_IMAGE_CONTAINER"), "podman"))
	return cli, cmp(os.Getenv("TSMCP_IMAGE_STATIC"), "tsmcp:static"), cmp(os.Getenv("TSMCP_IMAGE_RUNTIME"), "tsmcp:runtime")
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ctr runs the container CLI and returns its combined output.
func ctr(ctx context.Context, cli []string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, cli[0], append(slices.Clone(cli[1:]), args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// lockedDown are the run flags of every test container.
// (--no-healthcheck: podman would try to run the image's HEALTHCHECK
// through systemd timers, which these machines lack.)
var lockedDown = []string{"--network", "none", "--read-only", "--user", "65532", "--no-healthcheck"}

// runOnce runs image with args to completion.
func runOnce(ctx context.Context, cli []string, image string, flags []string, args ...string) (string, error) {
	a := append([]string{"run", "--rm"}, lockedDown...)
	a = append(a, flags...)
	a = append(a, image)
	return ctr(ctx, cli, append(a, args...)...)
}

// devContainer runs `tsmcp dev` in image with config, waits for its
// endpoints, and returns them and a dialer into its network namespace.
func devContainer(ctx context.Context, t *testing.T, cli []string, image, config string) (eps endpoints, dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	t.Helper()
	cfgDir, outDir := t.TempDir(), t.TempDir()
	os.Chmod(cfgDir, 0o755)
	os.Chmod(outDir, 0o777) // written by uid 65532
	args := []string{"run", "-d", "--rm"}
	args = append(args, lockedDown...)
	args = append(args, "-v", outDir+":/out")
	devArgs := []string{"dev", "--endpoints-file", "/out/endpoints.json"}
	if config != "" {
		if err := os.WriteFile(filepath.Join(cfgDir, "tsmcp.yaml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-v", cfgDir+":/etc/tsmcp:ro")
		devArgs = append(devArgs, "--config", "/etc/tsmcp/tsmcp.yaml")
	}
	out, err := ctr(ctx, cli, append(append(args, image), devArgs...)...)
	if err != nil {
		t.Fatalf("run %s: %v\n%s", image, err, out)
	}
	lines := strings.Split(out, "\n") // podman may warn (e.g. about systemd) before the ID
	id := strings.TrimSpace(lines[len(lines)-1])
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := ctr(context.Background(), cli, "logs", id)
			t.Logf("container logs:\n%s", logs)
		}
		ctr(context.Background(), cli, "rm", "-f", "-t", "2", id)
	})
	pid, err := ctr(ctx, cli, "inspect", "-f", "{{.State.Pid}}", id)
	if err != nil {
		t.Fatalf("inspect: %v %s", err, pid)
	}
	addDummyInterface(ctx, t, pid)
	file := filepath.Join(outDir, "endpoints.json")
	for {
		b, err := os.ReadFile(file)
		if err == nil && json.Unmarshal(b, &eps) == nil {
			break
		}
		if running, err := ctr(ctx, cli, "inspect", "-f", "{{.State.Running}}", id); err != nil || running != "true" {
			t.Fatalf("container %s is not running (%v %s)", id, err, running)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no endpoints from %s: %v", image, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	dial = netnsDialer("/proc/" + pid + "/ns/net")
	// Still no way out: the only route is the dummy interface's own subnet.
	if c, err := dial(ctx, "tcp", "1.1.1.1:443"); err == nil {
		c.Close()
		t.Fatal("the container reached 1.1.1.1:443; it must have no network but loopback and a dummy interface")
	}
	return eps, dial
}

// addDummyInterface gives the container's network namespace (of process
// pid) an interface with a TEST-NET address and no route out: a veth
// pair whose both ends are inside it (this kernel has no dummy driver). With
// loopback alone, tailscale's LocalBackend keeps its control client paused
// (netmon.State.AnyInterfaceUp is false: it counts non-loopback
// interfaces only), so no node, not even on the in-process tailnet, can
// log in. A real task always has an interface; the dummy one carries
// nothing.
func addDummyInterface(ctx context.Context, t *testing.T, pid string) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "add", "tsmcp0", "type", "veth", "peer", "name", "tsmcp1"},
		{"addr", "add", "192.0.2.1/32", "dev", "tsmcp0"},
		{"link", "set", "tsmcp0", "up"},
		{"link", "set", "tsmcp1", "up"},
	} {
		out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", pid, "-n", "ip"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nsenter -t %s -n ip %v: %v\n%s", pid, args, err, out)
		}
	}
}

// endpoints is what `tsmcp dev --endpoints-file` writes (the fields used).
type endpoints struct {
	Health     string `json:"health"`
	Identities []struct {
		Name string `json:"name"`
		MCP  string `json:"mcp"`
	} `json:"identities"`
}

func (e endpoints) mcp(t *testing.T, name string) string {
	for _, id := range e.Identities {
		if id.Name == name {
			return id.MCP
		}
	}
	t.Fatalf("no identity %q in %+v", name, e)
	return ""
}

// netnsDialer dials from inside the network namespace at nsPath: the
// socket is created on an OS thread switched into it, then the thread is
// switched back.
func netnsDialer(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine if restoring fails
			orig, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer orig.Close()
			target, err := os.Open(nsPath)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr == nil {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// mcpSession initializes an mcp-go Streamable HTTP client at url, dialing
// through dial.
func mcpSession(ctx context.Context, t *testing.T, url string, dial func(context.Context, string, string) (net.Conn, error)) *mcpgoclient.Client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: dial}}
	cl, err := mcpgoclient.NewStreamableHttpClient(url, mcpgotransport.WithHTTPBasicClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "tsmcp-image-test", Version: "1"}
	if _, err := cl.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize %s: %v", url, err)
	}
	return cl
}

func callText(ctx context.Context, t *testing.T, cl *mcpgoclient.Client, tool string, args map[string]any) string {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := cl.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("%s returned an error: %s", tool, b.String())
	}
	return b.String()
}

// runtimeConfig bridges the baked npm and Python servers by package name,
// and the playground's date(1) tool.
const runtimeConfig = `acl:
  rules:
    - src: ["*"]
      tools: ["*"]
tools:
  - name: server_time
    exec:
      command: [date, -u, +%Y]
upstreams:
  - name: everything
    package: "@modelcontextprotocol/server-everything@2026.8.31"
  - name: py
    package: "python:tsmcp-example-server==0.1.0"
`

// TestImageRuntime: in the runtime image, locked down, `tsmcp dev` bridges
// the baked npm server and the baked Python server, both started with no
// network, and a real MCP client calls them through the tailnet.
func TestImageRuntime(t *testing.T) {
	cli, _, rt := imageTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// tsmcp check in the image resolves the packages under /opt/tsmcp.
	cfgDir := t.TempDir()
	os.Chmod(cfgDir, 0o755)
	if err := os.WriteFile(filepath.Join(cfgDir, "tsmcp.yaml"), []byte(runtimeConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runOnce(ctx, cli, rt, []string{"-v", cfgDir + ":/etc/tsmcp:ro"}, "check", "--config", "/etc/tsmcp/tsmcp.yaml"); err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("check in the runtime image: %v\n%s", err, out)
	}
	// A package that is not baked in is an error naming it.
	bad := strings.Replace(runtimeConfig, "server-everything@2026.8.31", "server-filesystem@2025.8.21", 1)
	if err := os.WriteFile(filepath.Join(cfgDir, "tsmcp.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runOnce(ctx, cli, rt, []string{"-v", cfgDir + ":/etc/tsmcp:ro"}, "check", "--config", "/etc/tsmcp/tsmcp.yaml"); err == nil || !strings.Contains(out, "package npm:@modelcontextprotocol/server-filesystem@2025.8.21: not baked into this image") {
		t.Fatalf("check with a package not baked in: %v\n%s", err, out)
	}

	eps, dial := devContainer(ctx, t, cli, rt, runtimeConfig)
	cl := mcpSession(ctx, t, eps.mcp(t, "ci"), dial)
	if got := callText(ctx, t, cl, "everything__echo", map[string]any{"message": "from a baked npm package"}); !strings.Contains(got, "from a baked npm package") {
		t.Errorf("everything__echo = %q", got)
	}
	if got := callText(ctx, t, cl, "py__echo", map[string]any{"message": "hi"}); got != "python echo: hi" {
		t.Errorf("py__echo = %q", got)
	}
	if got := callText(ctx, t, cl, "py__now", nil); !strings.HasPrefix(got, fmt.Sprint(time.Now().UTC().Year())) {
		t.Errorf("py__now = %q", got)
	}
	if got := callText(ctx, t, cl, "server_time", nil); strings.TrimSpace(got) != fmt.Sprint(time.Now().UTC().Year()) {
		t.Errorf("server_time = %q", got)
	}
}

// TestImageStatic: the static image runs the playground's built-in tools
// locked down; a package upstream is refused before joining, naming the
// missing runtime; an unknown TSMCP_ variable stops it while Kubernetes
// service-link variables do not.
func TestImageStatic(t *testing.T) {
	cli, static, _ := imageTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cfgDir := t.TempDir()
	os.Chmod(cfgDir, 0o755)
	if err := os.WriteFile(filepath.Join(cfgDir, "tsmcp.yaml"), []byte(runtimeConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runOnce(ctx, cli, static, []string{"-v", cfgDir + ":/etc/tsmcp:ro"}, "check", "--config", "/etc/tsmcp/tsmcp.yaml")
	for _, want := range []string{
		`tools[0].exec.command[0] (tool server_time): "date" not found in PATH`,
		"upstreams[0].package (upstream everything): package npm:@modelcontextprotocol/server-everything@2026.8.31: not baked into this image",
	} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("check in the static image: %v, want an error containing %q:\n%s", err, want, out)
		}
	}

	links := []string{"-e", "TSMCP_PORT=tcp://10.0.0.7:80", "-e", "TSMCP_SERVICE_HOST=10.0.0.7", "-e", "TSMCP_SERVICE_PORT=80",
		"-e", "TSMCP_PORT_80_TCP=tcp://10.0.0.7:80", "-e", "TSMCP_PORT_80_TCP_ADDR=10.0.0.7"}
	if out, err := runOnce(ctx, cli, static, append(links, "-e", "TSMCP_TAILNET_HOSTNAM=typo"), "serve"); err == nil ||
		!strings.Contains(out, "TSMCP_TAILNET_HOSTNAM: environment variable matches no config key (did you mean TSMCP_TAILNET_HOSTNAME?)") ||
		strings.Contains(out, "TSMCP_PORT") || strings.Contains(out, "TSMCP_SERVICE_HOST") {
		t.Errorf("serve with a typo and service links: %v\n%s", err, out)
	}

	eps, dial := devContainer(ctx, t, cli, static, "")
	cl := mcpSession(ctx, t, eps.mcp(t, "ci"), dial)
	if got := callText(ctx, t, cl, "whoami", nil); !strings.Contains(got, "tag:ci") {
		t.Errorf("whoami = %q", got)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial}}
	resp, err := hc.Get(strings.TrimSuffix(eps.Health, "/health") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
}
