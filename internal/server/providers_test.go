package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mcpgoclient "github.com/mark3labs/mcp-go/client"
	mcpgotransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestConfiguredToolsEndToEnd runs a host whose tools all come from the
// configuration: an exec tool, an http tool, a bridged stdio server (a
// child process speaking MCP through mcp-go), the same server per
// identity, and the reference server-everything from npm. Real clients on
// the tailnet list and call them under the policy.
func TestConfiguredToolsEndToEnd(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob := cs[0], cs[1]

	var statusPaths atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		statusPaths.Store(r.URL.EscapedPath() + " auth=" + r.Header.Get("Authorization") +
			" forwarded-cookie=" + r.Header.Get("Cookie") + " forwarded-x=" + r.Header.Get(callerHeader))
		io.WriteString(w, `{"state":"running"}`)
	}))
	defer api.Close()
	t.Setenv("STATUS_TOKEN", "s3cret-token")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := func(name, isolation string) config.Upstream {
		return config.Upstream{Name: name, Command: []string{self}, Isolation: isolation,
			Env: map[string]string{stdioServerEnv: "1"}}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logs := &logBuffer{}
	dataDir := t.TempDir()
	host, err := startHost(ctx, tn.net, "configured", logs, func(c *config.Config, o *server.Options) {
		c.Data.Dir = dataDir
		c.ACL = acl.Config{Rules: []acl.Rule{
			{Src: []string{alice.login}, Tools: []string{"*"}},
			{Src: []string{bob.login}, Tools: []string{"local__echo", "pi__*"}},
		}}
		c.Tools = []config.Tool{
			{Name: "echo_args", Exec: &config.ExecTool{Command: []string{"printf", "%s|", "{{.a}}", "{{.b}}"}},
				Params: map[string]config.Param{"a": {Required: true}, "b": {}}},
			{Name: "status", HTTP: &config.HTTPTool{URL: api.URL + "/services/{{.service}}/status",
				Headers:    map[string]string{"Authorization": `Bearer {{env "STATUS_TOKEN"}}`},
				AllowHosts: []string{"127.0.0.1"}},
				Params: map[string]config.Param{"service": {Required: true}}},
		}
		c.Upstreams = []config.Upstream{
			child("local", ""),
			child("pi", config.IsolationPerIdentity),
			{Name: "everything", Command: []string{testutil.EverythingBin(t)}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	base := "http://" + host.TailnetIP().String()

	connect := func(c caller) *mcpgoclient.Client {
		t.Helper()
		// Every client sends headers of its own: none may reach an
		// http tool's target.
		cl, err := mcpgoclient.NewSSEMCPClient(base+"/sse", mcpgotransport.WithHTTPClient(c.httpClient()),
			mcpgotransport.WithHeaders(map[string]string{"Cookie": "session=caller-secret", callerHeader: "caller-secret"}))
		if err != nil {
			t.Fatal(err)
		}
		testutil.StartMCPGo(ctx, t, cl, "configured-test")
		return cl
	}
	list := func(cl *mcpgoclient.Client) []string {
		t.Helper()
		return testutil.MCPGoToolNames(ctx, t, cl)
	}
	call := func(cl *mcpgoclient.Client, name string, args map[string]any) (string, error) {
		t.Helper()
		return testutil.MCPGoCallText(ctx, cl, name, args)
	}

	ac, bc := connect(alice), connect(bob)
	aliceTools := list(ac)
	for _, want := range []string{"echo_args", "status", "whoami", "local__echo", "local__env", "local__count", "local__grow", "pi__env", "pi__count", "everything__echo"} {
		if !slices.Contains(aliceTools, want) {
			t.Errorf("alice's tools/list lacks %s: %v", want, aliceTools)
		}
	}
	if got, want := list(bc), []string{"local__echo", "pi__count", "pi__echo", "pi__env", "pi__grow"}; !slices.Equal(got, want) {
		t.Errorf("bob's tools/list = %v, want %v", got, want)
	}

	t.Run("exec arguments stay literal", func(t *testing.T) {
		hostile := `; rm -rf / $(id) ` + "`id`" + ` | & > x * ~ "q"`
		out, err := call(ac, "echo_args", map[string]any{"a": hostile, "b": "-n"})
		if err == nil {
			t.Fatalf("a leading dash was accepted: %q", out)
		}
		out, err = call(ac, "echo_args", map[string]any{"a": hostile, "b": "two words"})
		if err != nil || out != hostile+"|two words|" {
			t.Fatalf("echo_args = %q, %v; want %q", out, err, hostile+"|two words|")
		}
	})
	t.Run("http tool escapes params and sends secrets from env only", func(t *testing.T) {
		out, err := call(ac, "status", map[string]any{"service": "../admin?x=1#y"})
		if err != nil || !strings.Contains(out, "running") {
			t.Fatalf("status = %q, %v", out, err)
		}
		got, _ := statusPaths.Load().(string)
		if want := "/services/..%2Fadmin%3Fx=1%23y/status auth=Bearer s3cret-token forwarded-cookie= forwarded-x="; got != want {
			t.Errorf("the API saw %q, want %q", got, want)
		}
		if strings.Contains(out, "s3cret") || strings.Contains(logs.String(), "s3cret") {
			t.Error("the secret header value reached the result or the log")
		}
	})
	t.Run("bridged stdio and reference servers", func(t *testing.T) {
		if out, err := call(bc, "local__echo", map[string]any{"text": argMarker}); err != nil || out != argMarker {
			t.Errorf("local__echo = %q, %v", out, err)
		}
		// The call was audited, its arguments were not.
		if !strings.Contains(logs.String(), `"tool":"local__echo"`) || strings.Contains(logs.String(), argMarker) {
			t.Errorf("audit log: want a local__echo line and no trace of its argument %q", argMarker)
		}
		if out, err := call(ac, "everything__echo", map[string]any{"message": "hello everything"}); err != nil || !strings.Contains(out, "hello everything") {
			t.Errorf("everything__echo = %q, %v", out, err)
		}
		if _, err := call(bc, "echo_args", map[string]any{"a": "x"}); err == nil {
			t.Error("bob called echo_args, which his policy does not allow")
		}
	})
	t.Run("per-identity children see their caller and keep separate state", func(t *testing.T) {
		for _, c := range []struct {
			cl    *mcpgoclient.Client
			login string
		}{{ac, alice.login}, {bc, bob.login}} {
			out, err := call(c.cl, "pi__env", nil)
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]string
			if err := json.Unmarshal([]byte(out), &env); err != nil {
				t.Fatalf("pi__env = %q: %v", out, err)
			}
			if env["login"] != c.login || env["node"] == "" || env["tags"] != "" {
				t.Errorf("pi__env for %s = %v", c.login, env)
			}
			// In a directory of the caller's own under data.dir,
			// named by a hash of the identity.
			sum := sha256.Sum256([]byte("user:" + c.login))
			dir := filepath.Join(dataDir, "identities", hex.EncodeToString(sum[:]), "pi")
			if env["home"] != dir || env["cwd"] != dir {
				t.Errorf("pi__env for %s: home %q, cwd %q; want %s", c.login, env["home"], env["cwd"], dir)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v, %v; want a directory of mode 0700", dir, fi, err)
			}
		}
		for _, cl := range []*mcpgoclient.Client{ac, ac, bc} {
			call(cl, "pi__count", nil)
		}
		if out, _ := call(ac, "pi__count", nil); out != "3" {
			t.Errorf("alice's third count = %q, want 3", out)
		}
		if out, _ := call(bc, "pi__count", nil); out != "2" {
			t.Errorf("bob's second count = %q, want 2 (his own child)", out)
		}
	})
	t.Run("readyz lists the upstreams and no caller activity", func(t *testing.T) {
		resp, err := http.Get("http://" + host.HealthAddr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Up or down per upstream, nothing more: alice's and bob's
		// per-identity children run now, and how many callers are
		// active is not for the unauthenticated health listener.
		want := "ready\nupstream local: up\nupstream pi: up\nupstream everything: up\n"
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("/readyz = %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	})
	t.Run("list_changed reaches connected clients", func(t *testing.T) {
		changed := make(chan struct{}, 10)
		ac.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method == mcp.MethodNotificationToolsListChanged {
				changed <- struct{}{}
			}
		})
		if _, err := call(ac, "local__grow", nil); err != nil {
			t.Fatal(err)
		}
		for !slices.Contains(list(ac), "local__grown") {
			select {
			case <-ctx.Done():
				t.Fatal("local__grown never appeared")
			case <-time.After(20 * time.Millisecond):
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no notifications/tools/list_changed reached the client")
		}
		if out, err := call(ac, "local__grown", nil); err != nil || out != "grown" {
			t.Errorf("local__grown = %q, %v", out, err)
		}
	})
}

const (
	// callerHeader is a header every test client sends.
	callerHeader = "X-Caller-Secret"
	// argMarker is an argument value that must never reach the log.
	argMarker = "arg-marker-7f3a91"
)
