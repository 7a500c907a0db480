package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/secrets"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// secretDir writes a dir: source with the given values, by identity key
// and secret name, and opens it.
func secretDir(t *testing.T, values map[string]map[string]string) secrets.Source {
	t.Helper()
	root := t.TempDir()
	for key, vs := range values {
		dir := filepath.Join(root, secrets.DirEntry(key))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, v := range vs {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	src, err := secrets.Open("dir:" + root)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

const (
	aliceToken = "alice-token-5f1e"
	bobToken   = "bob-token-9c3a"
)

// childEnv calls the test server's env tool as the caller of ctx.
func childEnv(t *testing.T, h *harness, ctx context.Context, tool string) map[string]string {
	t.Helper()
	res := h.call(ctx, tool, nil)
	if res.IsError {
		t.Fatalf("%s: %s", tool, resultText(res))
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(resultText(res)), &env); err != nil {
		t.Fatal(err)
	}
	return env
}

// jiraHarness runs the per-identity upstream p, whose TSMCP_TEST_TOKEN is
// tokenEnv, with a dir: source holding alice's and bob's jira-token.
func jiraHarness(t *testing.T, tokenEnv string) *harness {
	t.Helper()
	u := perIdentityUpstream(t, "p")
	u.Env["TSMCP_TEST_TOKEN"] = tokenEnv
	opts := testOptions()
	opts.Secrets = secretDir(t, map[string]map[string]string{
		"user:alice@example.com": {"jira-token": aliceToken},
		"user:bob@example.com":   {"jira-token": bobToken},
	})
	return newHarness(t, []config.Upstream{u}, opts)
}

// TestPerIdentitySecretsInEnv: each caller's child gets that caller's own
// secret in its environment; a caller without one is refused with an
// error naming the secret, and no child is started for them; the
// discovery child has none; no value reaches the log.
func TestPerIdentitySecretsInEnv(t *testing.T) {
	h := jiraHarness(t, "Bearer ${secret:jira-token}")
	bg := context.Background()

	h.tool("p__env")
	for _, kv := range discoveryEnviron(t) {
		if strings.HasPrefix(kv, "TSMCP_TEST_TOKEN=") {
			t.Errorf("the discovery child has %s", kv)
		}
	}

	tests := []struct {
		name string
		ctx  context.Context
		want string
	}{
		{name: "alice gets hers", ctx: alice(bg), want: "Bearer " + aliceToken},
		{name: "bob gets his", ctx: bob(bg), want: "Bearer " + bobToken},
		{name: "alice again, same child", ctx: alice(bg), want: "Bearer " + aliceToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			actx, creds := audit.WithCredentials(tc.ctx)
			if got := childEnv(t, h.in(t), actx, "p__env")["token"]; got != tc.want {
				t.Errorf("child's TSMCP_TEST_TOKEN = %q, want %q", got, tc.want)
			}
			want := []audit.Credential{{Upstream: "p", Kind: "secret", Name: "jira-token"}}
			if got := creds(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("credentials recorded = %+v, want %+v", got, want)
			}
		})
	}

	t.Run("a caller without the secret is refused, no child started", func(t *testing.T) {
		h := h.in(t)
		before := len(testutil.ChildPIDs(t))
		res := h.call(ciNode(bg), "p__env", nil)
		msg := resultText(res)
		if !res.IsError || !strings.Contains(msg, `secret "jira-token" is not set for you`) || !strings.Contains(msg, "secrets.source dir:") {
			t.Fatalf("result = %q (isError %v), want an error naming the secret and the source", msg, res.IsError)
		}
		for _, other := range []string{"alice", "bob", aliceToken, bobToken} {
			if strings.Contains(msg, other) {
				t.Errorf("the error %q names %q", msg, other)
			}
		}
		if after := len(testutil.ChildPIDs(t)); after != before {
			t.Errorf("child processes %d → %d: a child was started without its secret", before, after)
		}
		if s := h.status("p"); s.PerIdentity != 2 {
			t.Errorf("per-identity children = %d, want 2", s.PerIdentity)
		}
		if !strings.Contains(h.logs.String(), "the caller's secret could not be resolved") {
			t.Errorf("no log line for the refusal")
		}
	})

	for _, v := range []string{aliceToken, bobToken} {
		if strings.Contains(h.logs.String(), v) {
			t.Errorf("a secret value is in the log")
		}
	}
}

// TestPerIdentitySecretsInHeaders: a per-identity url upstream's session
// for each caller carries that caller's own secret, and a caller without
// one gets no session.
func TestPerIdentitySecretsInHeaders(t *testing.T) {
	srv := newRemoteServer(t, false)
	src := secretDir(t, map[string]map[string]string{
		"user:alice@example.com": {"gh": aliceToken},
		"user:bob@example.com":   {"gh": bobToken},
		"user:dave@example.com":  {"gh": "two\nlines"},
	})
	u := config.Upstream{Name: "r", URL: srv.url(), Isolation: config.IsolationPerIdentity,
		Headers: map[string]string{"Authorization": "Bearer ${secret:gh}"}}
	opts := testOptions()
	opts.Secrets = src
	h := newHarness(t, []config.Upstream{u}, opts)
	bg := context.Background()
	wantText(t, h.call(alice(bg), "r__who", nil), "alice@example.com|Bearer "+aliceToken)
	wantText(t, h.call(bob(bg), "r__who", nil), "bob@example.com|Bearer "+bobToken)
	wantText(t, h.call(alice(bg), "r__who", nil), "alice@example.com|Bearer "+aliceToken)
	res := h.call(ciNode(bg), "r__who", nil)
	if !res.IsError || !strings.Contains(resultText(res), `secret "gh" is not set for you`) {
		t.Fatalf("result = %q, want the missing secret", resultText(res))
	}
	// A value a header cannot carry is refused too, naming the secret.
	dave := identity.NewContext(bg, &identity.Identity{LoginName: "dave@example.com", NodeName: "dave-laptop", NodeID: "n4"})
	res = h.call(dave, "r__who", nil)
	if !res.IsError || !strings.Contains(resultText(res), `secret "gh" could not be read`) {
		t.Fatalf("result = %q, want the secret refused", resultText(res))
	}
	if !strings.Contains(h.logs.String(), "which header Authorization cannot carry") {
		t.Errorf("the log does not say why dave's secret was refused")
	}
	if got := h.status("r").PerIdentity; got != 2 {
		t.Errorf("per-identity sessions = %d, want 2", got)
	}
	// The discovery session carried no secret, and no request carried
	// the literal reference.
	for _, v := range srv.headerValues("Authorization") {
		if v != "Bearer "+aliceToken && v != "Bearer "+bobToken {
			t.Errorf("a request carried Authorization %q", v)
		}
	}
	for _, v := range []string{aliceToken, bobToken} {
		if strings.Contains(h.logs.String(), v) {
			t.Errorf("a secret value is in the log")
		}
	}
}

// TestSecretRefs: the per-identity upstream looks up exactly the secrets
// its env values and headers name.
func TestSecretRefs(t *testing.T) {
	got, err := secretRefs(0, map[string]string{"A": "${secret:a}-${secret:b}", "B": "plain"}, map[string]string{"X": "${secret:a}"})
	if err != nil || fmt.Sprint(got) != "[a b]" {
		t.Errorf("secretRefs = %v, %v", got, err)
	}
	if _, err := secretRefs(3, map[string]string{"A": "${secret:a"}, nil); err == nil || !strings.Contains(err.Error(), "upstreams[3].env.A") {
		t.Errorf("secretRefs(unclosed) = %v", err)
	}
}

// TestPerIdentitySecretsConcurrentFirstCalls: callers' first calls at
// once each start one child, with that caller's secret.
func TestPerIdentitySecretsConcurrentFirstCalls(t *testing.T) {
	h := jiraHarness(t, "${secret:jira-token}")
	bg := context.Background()
	// The handler is called directly: t.Fatal is for this goroutine only.
	tl := h.tool("p__env")
	type got struct{ want, text string }
	results := make(chan got, 16)
	for i := range 16 {
		ctx, want := alice(bg), aliceToken
		if i%2 == 1 {
			ctx, want = bob(bg), bobToken
		}
		go func() {
			req := mcp.CallToolRequest{}
			req.Params.Name = tl.Tool.Name
			res, err := tl.Handler(ctx, req)
			if err != nil || res == nil {
				results <- got{want, fmt.Sprintf("handler error %v", err)}
				return
			}
			results <- got{want, resultText(res)}
		}()
	}
	for range 16 {
		r := <-results
		var env map[string]string
		if err := json.Unmarshal([]byte(r.text), &env); err != nil || env["token"] != r.want {
			t.Errorf("a call got %q, want a child with token %q", r.text, r.want)
		}
	}
	if n := h.status("p").PerIdentity; n != 2 {
		t.Errorf("per-identity children = %d, want 2", n)
	}
}
