package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/audit"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// FuzzStreamableRouting sends arbitrary POST, GET and DELETE requests
// through the host's /mcp middleware (version header check,
// reconciliation, session requirement, stateless cancellation) in front
// of a recorder standing in for mcp-go. Whatever the input:
//
//   - nothing panics, and a request is either passed on or answered 400
//     or (a stateless cancellation) 202;
//   - what is passed on carries at most one protocol version header, and
//     it is absent, one the host serves, or the version the body declares
//     (which mcp-go then checks itself);
//   - a stateless notifications/cancelled, as mcp-go would read the
//     message passed on, never reaches mcp-go, which would cancel any
//     caller's request with that ID;
//   - a session-era message without a session reaches mcp-go only if it
//     is an initialize, a response or not JSON-RPC at all;
//   - no request is left in the stateless cancellation table.
//
// go test ./internal/server -run '^$' -fuzz FuzzStreamableRouting
func FuzzStreamableRouting(f *testing.F) {
	const meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	for _, seed := range []struct {
		method, version, session, body string
	}{
		{"POST", "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`},
		{"POST", "2026-07-28", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`},
		{"POST", "garbage", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`},
		{"POST", "2025-06-18", "abc", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"POST", "2025-06-18", "", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"POST", "2025-06-18", "", `{"jsonrpc":"2.0","method":"notifications/initialized"}`},
		{"POST", "2025-06-18", "", `{"jsonrpc":"2.0","id":5,"result":{}}`},
		{"POST", "2026-07-28", "", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x",` + meta + `}}`},
		{"POST", "2025-11-25", "", `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x",` + meta + `}}`},
		{"POST", "2026-07-28", "", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,` + meta + `}}`},
		{"POST", "2025-06-18", "", `{"jsonrpc":"2.0","id":null,"METHOD":"notifications/cancelled","PARAMS":{"requestId":"3",` + meta + `}}`},
		{"POST", "2099-01-01", "", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}`},
		{"POST", "", "", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"_meta":{"io.modelcontextprotocol/protocolVersion":"zzz"}}}`},
		{"POST", "", "", `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`},
		{"POST", "", "", `not json`},
		{"GET", "", "", ``},
		{"GET", "2026-07-28", "", ``},
		{"DELETE", "2025-06-18", "abc", ``},
	} {
		f.Add(seed.method, seed.version, seed.session, []byte(seed.body))
	}
	s := &Server{
		log:       slog.New(slog.DiscardHandler),
		audit:     audit.NewLog(slog.New(slog.DiscardHandler)),
		stateless: newStatelessCalls(),
	}
	caller := &identity.Identity{LoginName: "alice@example.com", NodeID: "n1"}
	f.Fuzz(func(t *testing.T, method, version, session string, body []byte) {
		switch method {
		case http.MethodPost, http.MethodGet, http.MethodDelete:
		default:
			return
		}
		var passed *http.Request
		var passedBody []byte
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			passed = r
			passedBody, _ = io.ReadAll(r.Body)
			if _, tracked := r.Context().Value(clientCancelKey{}).(context.Context); tracked && s.stateless.len() == 0 {
				t.Error("a tracked stateless request is not in the table while it runs")
			}
		})
		h := s.checkVersionHeader(s.reconcileVersion(s.requireSession(s.scopeCancels(next))))

		req := httptest.NewRequest(method, "/mcp", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if version != "" {
			req.Header.Set(mcp.HeaderProtocolVersion, version)
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		ctx := identity.NewContext(req.Context(), caller)
		if method == http.MethodPost {
			ctx = context.WithValue(ctx, bodyKey{}, &requestBody{body: body})
		}
		req = req.WithContext(ctx)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if s.stateless.len() != 0 {
			t.Fatal("the stateless cancellation table kept an entry")
		}
		if passed == nil {
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusAccepted {
				t.Fatalf("answered %d, want 400 or 202 (or passed on)", rec.Code)
			}
			return
		}
		versions := passed.Header.Values(mcp.HeaderProtocolVersion)
		if len(versions) > 1 {
			t.Fatalf("passed on with %d version headers", len(versions))
		}
		header := passed.Header.Get(mcp.HeaderProtocolVersion)
		metaVersion, modern := requestEra(header, passedBody)
		if header != "" && !slices.Contains(protocolVersions, header) && header != metaVersion {
			t.Fatalf("passed on with version header %q (body declares %q)", header, metaVersion)
		}
		if method != http.MethodPost {
			if passed.Header.Get("Mcp-Session-Id") == "" && !modern {
				t.Fatalf("session-era %s without a session passed on", method)
			}
			return
		}
		// The message as mcp-go's HandleMessage reads it.
		var m struct {
			ID     any           `json:"id"`
			Method mcp.MCPMethod `json:"method"`
		}
		if json.Unmarshal(passedBody, &m) != nil {
			return
		}
		if modern && m.ID == nil && m.Method == mcp.MethodNotificationCancelled {
			t.Fatalf("a stateless notifications/cancelled reached mcp-go: %q", passedBody)
		}
		var shape struct {
			ID     json.RawMessage `json:"id"`
			Method mcp.MCPMethod   `json:"method,omitempty"`
		}
		json.Unmarshal(passedBody, &shape)
		isResponse := shape.Method == "" && shape.ID != nil
		if !modern && passed.Header.Get("Mcp-Session-Id") == "" && shape.Method != mcp.MethodInitialize && !isResponse {
			t.Fatalf("session-era %q without a session passed on", shape.Method)
		}
	})
}

// len returns, for tests, how many request IDs are in flight.
func (sc *statelessCalls) len() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.calls)
}

// requestEra is the test's oracle: it returns the protocol version a JSON-RPC body declares in its
// params._meta, and whether the request is a stateless (2026-07-28 or
// later) one, decided exactly as mcp-go's transport does: from the header
// or the _meta version, parsed with mcp-go's own types.
func requestEra(header string, body []byte) (meta string, modern bool) {
	var m struct {
		Params struct {
			Meta *mcp.Meta `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) == nil {
		meta = m.Params.Meta.ProtocolVersion()
	}
	return meta, mcp.IsModernProtocol(meta) || mcp.IsModernProtocol(header)
}
