package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/server"
)

// TestPerIdentitySecrets: end to end on the tailnet, each caller's own
// secret (secrets.source dir:) reaches only what acts for that caller: a
// per-identity stdio child (a real process) started for alice has alice's
// value in its environment and bob's has bob's; an http tool called by
// alice sends alice's header and by bob bob's. carol, who has no secret,
// is refused with an error naming the secret, gets no child and sends no
// request. The audit lines name the secret used, and no value appears in
// the host's logs, its audit lines or its spans.
func TestPerIdentitySecrets(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, carol := cs[0], cs[1], tn.carolCaller()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	values := map[string]string{alice.login: "alice-s3cret-4b1d", bob.login: "bob-s3cret-8e2c"}
	root := t.TempDir()
	for login, v := range values {
		dir := filepath.Join(root, secrets.DirEntry("user:"+login))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "svc-token"), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		auth []string // the Authorization headers the http tool's target saw
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer target.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "secrets", logs, func(c *config.Config, o *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}}}
		c.Secrets.Source = "dir:" + root
		c.Upstreams = []config.Upstream{{Name: "sec", Command: []string{self}, Isolation: config.IsolationPerIdentity,
			Env: map[string]string{stdioServerEnv: "1", "TSMCP_TEST_TOKEN": "Bearer ${secret:svc-token}"}}}
		c.Tools = []config.Tool{{Name: "svc", HTTP: &config.HTTPTool{Method: "GET", URL: target.URL + "/",
			Headers: map[string]string{"Authorization": "Bearer ${secret:svc-token}"}, AllowHosts: []string{"127.0.0.1"}}}}
		o.TracerProvider = tp
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"

	lastAuth := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(auth) == 0 {
			return ""
		}
		return auth[len(auth)-1]
	}
	for _, c := range []caller{alice, bob} {
		t.Run(c.name+" acts with their own secret", func(t *testing.T) {
			s := streamableSession(ctx, t, endpoint, c)
			text, isErr := sdkCall(ctx, t, s, "sec__env", "", nil)
			var env map[string]string
			if isErr || json.Unmarshal([]byte(text), &env) != nil {
				t.Fatalf("sec__env = %q (isError %v)", text, isErr)
			}
			if want := "Bearer " + values[c.login]; env["token"] != want || env["login"] != c.login {
				t.Errorf("%s's child has TSMCP_TEST_TOKEN %q (login %q), want %q", c.name, env["token"], env["login"], want)
			}
			if text, isErr := sdkCall(ctx, t, s, "svc", "", nil); isErr {
				t.Fatalf("svc = %q (isError)", text)
			}
			if got, want := lastAuth(), "Bearer "+values[c.login]; got != want {
				t.Errorf("the http tool sent Authorization %q for %s, want %q", got, c.name, want)
			}
		})
	}

	t.Run("carol has none: refused, no child, no request", func(t *testing.T) {
		s := streamableSession(ctx, t, endpoint, carol)
		mu.Lock()
		sent := len(auth)
		mu.Unlock()
		for _, tool := range []string{"sec__env", "svc"} {
			text, isErr := sdkCall(ctx, t, s, tool, "", nil)
			if !isErr || !strings.Contains(text, `secret "svc-token" is not set for you`) || !strings.Contains(text, "secrets.source dir:") {
				t.Errorf("%s = %q (isError %v), want the missing secret named", tool, text, isErr)
			}
			for _, other := range []string{alice.login, bob.login} {
				if strings.Contains(text, other) {
					t.Errorf("%s's error names %s", tool, other)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(auth) != sent {
			t.Errorf("the http tool sent a request for carol")
		}
		for _, m := range logs.JSONLines("per-identity child started") {
			if m["caller"] == "user:"+carol.login {
				t.Errorf("a child was started for carol")
			}
		}
	})

	// The audit names the secret of each call that used one.
	used := 0
	for _, m := range logs.JSONLines("tool_call") {
		if m["outcome"] != "ok" {
			continue
		}
		b, _ := json.Marshal(m["credentials"])
		switch m["tool"] {
		case "sec__env":
			if string(b) != `[{"kind":"secret","name":"svc-token","upstream":"sec"}]` {
				t.Errorf("audit line of sec__env: credentials %s", b)
			}
			used++
		case "svc":
			if string(b) != `[{"kind":"secret","name":"svc-token"}]` {
				t.Errorf("audit line of svc: credentials %s", b)
			}
			used++
		}
	}
	if used != 4 {
		t.Errorf("%d audit lines of successful calls name the secret, want 4", used)
	}
	var named bool
	for _, sp := range spans.Ended() {
		for _, kv := range sp.Attributes() {
			v := kv.Value.Emit()
			named = named || (string(kv.Key) == "tsmcp.credentials" && strings.Contains(v, "secret:sec:svc-token"))
			for _, secret := range values {
				if strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s holds a secret value", sp.Name(), kv.Key)
				}
			}
		}
	}
	if !named {
		t.Errorf("no span names the credential used")
	}
	for _, secret := range values {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the host's log (audit lines included) holds a secret value")
		}
	}
}
