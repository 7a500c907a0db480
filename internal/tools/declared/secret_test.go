package declared

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/identity"
	"github.com/tsmcp/tsmcp/internal/secrets"
)

// TestHTTPCallerSecrets: an http tool's ${secret:NAME} header carries the
// caller's own secret, looked up per call: alice's request has alice's
// value and only hers, bob's his; a caller without one is refused before
// any request is sent; a param's value is never expanded; no value
// reaches the result or the log.
func TestHTTPCallerSecrets(t *testing.T) {
	const aliceTok, bobTok = "alice-tok-7d2f1a", "bob-tok-0b9e44"
	root := t.TempDir()
	for key, v := range map[string]string{"user:alice@example.com": aliceTok, "user:bob@example.com": bobTok} {
		dir := filepath.Join(root, secrets.DirEntry(key))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "svc-token"), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, err := secrets.Open("dir:" + root)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "auth=%s note=%s", r.Header.Get("Authorization"), r.Header.Get("X-Note"))
	})
	p, logs := newProvider(t, []config.Tool{
		httpToolCfg("svc", "GET", fmt.Sprintf("http://api.test:%d/", srv.port()), map[string]config.Param{"note": {}}, func(h *config.HTTPTool) {
			h.AllowHosts = []string{"api.test"}
			h.Headers = map[string]string{"Authorization": "Bearer ${secret:svc-token}", "X-Note": "{{.note}}"}
		}),
	}, Options{LookupIP: resolver(testNames), Secrets: src})

	as := func(login string) context.Context {
		return identity.NewContext(context.Background(), &identity.Identity{LoginName: login, NodeName: "n", NodeID: "n"})
	}
	tests := []struct {
		name   string
		ctx    context.Context
		want   string // the Authorization header the server sees
		others []string
	}{
		{name: "alice sends hers", ctx: as("alice@example.com"), want: "Bearer " + aliceTok, others: []string{bobTok}},
		{name: "bob sends his", ctx: as("bob@example.com"), want: "Bearer " + bobTok, others: []string{aliceTok}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, creds := audit.WithCredentials(tc.ctx)
			got := mustOK(t, callRaw(t, ctx, p, "svc", `{"note":"${secret:svc-token}"}`))
			r := srv.last(t)
			if a := r.Header.Get("Authorization"); a != tc.want {
				t.Errorf("server saw Authorization %q, want %q", a, tc.want)
			}
			for _, o := range tc.others {
				if strings.Contains(fmt.Sprint(r.Header), o) {
					t.Errorf("the request carries another identity's secret")
				}
			}
			// The param's text is sent as it is, not expanded.
			if n := r.Header.Get("X-Note"); n != "${secret:svc-token}" {
				t.Errorf("X-Note = %q, want the param's text as is", n)
			}
			if strings.Contains(got, aliceTok) || strings.Contains(got, bobTok) || !strings.Contains(got, "auth=Bearer [redacted]") {
				t.Errorf("result shows a secret: %q", got)
			}
			c := creds()
			if b, _ := json.Marshal(c); string(b) != `[{"kind":"secret","name":"svc-token"}]` {
				t.Errorf("credentials recorded = %s", b)
			}
		})
	}
	t.Run("carol has none: refused, nothing sent", func(t *testing.T) {
		before := len(srv.requests())
		msg := mustFail(t, callRaw(t, as("carol@example.com"), p, "svc", `{"note":"x"}`), `secret "svc-token" is not set for you`)
		if !strings.Contains(msg, "secrets.source dir:") || strings.Contains(msg, "alice") || strings.Contains(msg, "bob") {
			t.Errorf("message %q", msg)
		}
		if after := len(srv.requests()); after != before {
			t.Errorf("a request was sent without the caller's secret")
		}
	})
	t.Run("no identity: refused", func(t *testing.T) {
		mustFail(t, callRaw(t, context.Background(), p, "svc", `{"note":"x"}`), "needs an identified caller")
	})
	for _, v := range []string{aliceTok, bobTok} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("the log holds a secret value")
		}
	}
}

func TestParseHeaderSecrets(t *testing.T) {
	p, _ := newProvider(t, nil, Options{})
	for _, tt := range []struct {
		name, src string
		want      string // the parts, t for a template, s:NAME for a secret
		err       string
	}{
		{name: "plain", src: "x", want: "t"},
		{name: "empty", src: "", want: "t"},
		{name: "only a secret", src: "${secret:a}", want: "s:a"},
		{name: "around", src: "Bearer ${secret:a} {{.note}}${secret:b}", want: "t s:a t s:b"},
		{name: "inside an action", src: `{{printf "${secret:a}"}}`, err: "cannot be inside a {{…}} action"},
		{name: "bad name", src: "${secret:a b}", err: "is not a valid secret name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := p.parseHeader("k", "H", tt.src, map[string]*param{"note": {}})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseHeader(%q) = %v, want %q", tt.src, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, part := range h.parts {
				if part.t != nil {
					parts = append(parts, "t")
				} else {
					parts = append(parts, "s:"+part.secret)
				}
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("parts = %q, want %q", got, tt.want)
			}
		})
	}
}
