package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/server"
)

// urlServer is an upstream built with the official Go SDK that asks for
// URL-mode elicitation two ways: "consent" sends elicitation/create with
// mode "url" during the call and, once answered, completes it
// (notifications/elicitation/complete); "account" refuses with
// URLElicitationRequiredError until the elicitation it names has been
// completed by the test (complete), then answers.
type urlServer struct {
	mu        sync.Mutex // guards the fields below
	sessions  map[string]*sdk.ServerSession
	completed map[string]bool
}

func (u *urlServer) start(t *testing.T) string {
	u.sessions, u.completed = map[string]*sdk.ServerSession{}, map[string]bool{}
	s := sdk.NewServer(&sdk.Implementation{Name: "url-elicitation", Version: "1"}, nil)
	type who struct {
		Who string `json:"who"`
	}
	sdk.AddTool(s, &sdk.Tool{Name: "consent"}, func(ctx context.Context, req *sdk.CallToolRequest, in who) (*sdk.CallToolResult, any, error) {
		id := "consent-" + in.Who
		res, err := req.Session.Elicit(ctx, &sdk.ElicitParams{Mode: "url", Message: "Consent for " + in.Who,
			URL: "https://consent.example/" + in.Who, ElicitationID: id})
		if err != nil {
			return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "elicitation failed: " + err.Error()}}}, nil, nil
		}
		go req.Session.NotifyElicitationComplete(context.Background(), &sdk.ElicitationCompleteParams{ElicitationID: id})
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "consent " + res.Action}}}, nil, nil
	})
	sdk.AddTool(s, &sdk.Tool{Name: "account"}, func(ctx context.Context, req *sdk.CallToolRequest, in who) (*sdk.CallToolResult, any, error) {
		id := "login-" + in.Who
		u.mu.Lock()
		done := u.completed[id]
		u.sessions[id] = req.Session
		u.mu.Unlock()
		if !done {
			return nil, nil, sdk.URLElicitationRequiredError([]*sdk.ElicitParams{{Mode: "url", Message: "Sign in as " + in.Who,
				URL: "https://login.example/" + in.Who, ElicitationID: id}})
		}
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "account of " + in.Who}}}, nil, nil
	})
	hs := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil))
	t.Cleanup(hs.Close)
	return hs.URL
}

// complete plays the user finishing the sign-in flow of elicitation id:
// the server notes it and tells the session that asked.
func (u *urlServer) complete(id string) {
	u.mu.Lock()
	u.completed[id] = true
	ss := u.sessions[id]
	u.mu.Unlock()
	if ss != nil {
		ss.NotifyElicitationComplete(context.Background(), &sdk.ElicitationCompleteParams{ElicitationID: id})
	}
}

// urlPeer is a go-sdk client that declares elicitation (URL mode too, when
// url) and records what it is asked and told.
type urlPeer struct {
	mu        sync.Mutex // guards the fields below
	asked     []string   // URLs of URL-mode elicitations
	completed []string   // elicitation IDs completed
}

func (p *urlPeer) connect(ctx context.Context, t *testing.T, endpoint string, c caller, url bool) *sdk.ClientSession {
	t.Helper()
	caps := &sdk.ClientCapabilities{Elicitation: &sdk.ElicitationCapabilities{Form: &sdk.FormElicitationCapabilities{}}}
	if url {
		caps.Elicitation.URL = &sdk.URLElicitationCapabilities{}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "url-elicitation-test", Version: "1"}, &sdk.ClientOptions{
		Capabilities: caps,
		ElicitationHandler: func(_ context.Context, r *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			p.mu.Lock()
			p.asked = append(p.asked, r.Params.URL)
			p.mu.Unlock()
			return &sdk.ElicitResult{Action: "accept"}, nil
		},
		ElicitationCompleteHandler: func(_ context.Context, r *sdk.ElicitationCompleteNotificationRequest) {
			p.mu.Lock()
			p.completed = append(p.completed, r.Params.ElicitationID)
			p.mu.Unlock()
		},
	})
	s, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: c.httpClient(), MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (p *urlPeer) seen() (asked, completed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.asked), slices.Clone(p.completed)
}

// TestURLModeElicitation: an upstream's URL-mode elicitation reaches the
// caller whose call asked for it, and its completion reaches that caller
// only; a caller that did not declare URL mode is not asked; an upstream's
// URLElicitationRequiredError reaches the caller as that error (code and
// URLs), the completion of that elicitation reaches the caller once the
// user finished, and the retried call succeeds.
func TestURLModeElicitation(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	up := &urlServer{}
	url := up.start(t)
	logs := &logBuffer{}
	host, err := startHost(ctx, tn.net, "urlelicit", logs, func(c *config.Config, _ *server.Options) {
		c.ACL = acl.Config{Rules: []acl.Rule{{Src: []string{"*"}, Tools: []string{"*"}}}}
		c.Upstreams = []config.Upstream{{Name: "auth", URL: url}}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	endpoint := "http://" + host.TailnetIP().String() + "/mcp"
	var alice, bob, formOnly urlPeer
	as := alice.connect(ctx, t, endpoint, cs[0], true)
	bs := bob.connect(ctx, t, endpoint, cs[1], true)
	fs := formOnly.connect(ctx, t, endpoint, cs[1], false)
	_ = bs

	t.Run("a URL-mode request and its completion reach only the caller", func(t *testing.T) {
		res, err := as.CallTool(ctx, &sdk.CallToolParams{Name: "auth__consent", Arguments: map[string]any{"who": "alice"}})
		if err != nil || res.IsError || textOf(res) != "consent accept" {
			t.Fatalf("auth__consent = %q, %v", textOf(res), err)
		}
		for {
			asked, completed := alice.seen()
			if slices.Equal(asked, []string{"https://consent.example/alice"}) && slices.Equal(completed, []string{"consent-alice"}) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("alice was asked %v and told of %v; want the consent URL and its completion", asked, completed)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if asked, completed := bob.seen(); len(asked)+len(completed) > 0 {
			t.Errorf("bob heard alice's elicitation: asked %v, completed %v", asked, completed)
		}
	})

	t.Run("a caller without URL mode is not asked", func(t *testing.T) {
		res, err := fs.CallTool(ctx, &sdk.CallToolParams{Name: "auth__consent", Arguments: map[string]any{"who": "form"}})
		if err != nil || !res.IsError {
			t.Errorf("auth__consent for a form-only caller = %q, %v; want the upstream's failure", textOf(res), err)
		}
		if asked, _ := formOnly.seen(); len(asked) > 0 {
			t.Errorf("a form-only caller was asked to open %v", asked)
		}
		if !strings.Contains(logs.String(), "the caller did not declare URL-mode elicitation") {
			t.Error("the refusal is not in the host's log")
		}
	})

	t.Run("URLElicitationRequiredError reaches the caller, who signs in and retries", func(t *testing.T) {
		call := func() (*sdk.CallToolResult, error) {
			return as.CallTool(ctx, &sdk.CallToolParams{Name: "auth__account", Arguments: map[string]any{"who": "alice"}})
		}
		_, err := call()
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != sdk.CodeURLElicitationRequired {
			t.Fatalf("auth__account = %v; want a JSON-RPC error %d", err, sdk.CodeURLElicitationRequired)
		}
		var data struct {
			Elicitations []sdk.ElicitParams `json:"elicitations"`
		}
		if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 ||
			data.Elicitations[0].URL != "https://login.example/alice" || data.Elicitations[0].ElicitationID != "login-alice" {
			t.Fatalf("error data %s (%v); want the login URL", rpcErr.Data, err)
		}
		up.complete("login-alice") // the user opens the URL and signs in
		for {
			if _, completed := alice.seen(); slices.Contains(completed, "login-alice") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("alice was not told that her sign-in completed")
			case <-time.After(20 * time.Millisecond):
			}
		}
		res, err := call()
		if err != nil || res.IsError || textOf(res) != "account of alice" {
			t.Fatalf("auth__account after signing in = %q, %v", textOf(res), err)
		}
		if asked, completed := bob.seen(); len(asked)+len(completed) > 0 {
			t.Errorf("bob heard alice's sign-in: asked %v, completed %v", asked, completed)
		}
		if !strings.Contains(logs.String(), `"outcome":"url_required"`) {
			t.Error("the refused call's audit line lacks outcome url_required")
		}
	})
}
