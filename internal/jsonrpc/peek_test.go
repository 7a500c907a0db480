package jsonrpc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// peekSeeds are bodies whose decoding has corners: batches, null, a
// method or id of the wrong type, an id out of float64's range, duplicate
// keys, keys in other cases, whitespace JSON does not allow, bad _meta.
var peekSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`,
	`{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"whoami","arguments":{}}}`,
	`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":7}}}`,
	`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"jsonrpc":"2.0","id":null,"METHOD":"notifications/cancelled","PARAMS":{"requestId":"3","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"jsonrpc":"2.0","id":5,"result":{}}`,
	`{"jsonrpc":"2.0","id":5,"error":null}`,
	`{"id":1e400,"method":"tools/list"}`,
	`{"id":1e400,"id":null,"method":"notifications/cancelled","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"id":1,"method":7}`,
	`{"id":1,"method":"tools/call","params":[1]}`,
	`{"id":1,"method":"tools/call","params":{"_meta":3}}`,
	`{"id":1,"method":"tools/call","params":{"name":5,"uri":{}}}`,
	`{"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}},"params":{}}`,
	`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
	`[{"id":1,"method":"tools/list"},3,{"id":2,"method":9}]`,
	`[{"id":1,"result":1},null]`,
	`[]`,
	"\f[{\"id\":1,\"method\":\"tools/list\"}]",
	"\f{\"id\":1,\"method\":\"tools/list\"}",
	` {"id":1,"method":"ping"} `,
	`null`,
	`7`,
	`"x"`,
	`not json`,
	``,
}

// FuzzRPCPeek checks that every view of the one decode equals what the
// layer's own decode of the body gives, whatever the body.
//
//	go test ./internal/jsonrpc -run '^$' -fuzz FuzzPeek
func FuzzPeek(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, withMeta := range []bool{false, true} {
			var p Peek
			p.Decode(body, withMeta)
			checkPeek(t, &p, body)
		}
	})
}

// TestRPCPeekSeeds runs the fuzz seeds as a table, and checks the fields
// the layers do not decode themselves on well-formed messages.
func TestPeekSeeds(t *testing.T) {
	for _, s := range peekSeeds {
		t.Run(s, func(t *testing.T) {
			for _, withMeta := range []bool{false, true} {
				var p Peek
				p.Decode([]byte(s), withMeta)
				checkPeek(t, &p, []byte(s))
			}
		})
	}
	for _, tc := range []struct {
		name, body     string
		method, tool   string
		uri            string
		progress       any
		modern         bool
		requests       int
		single, isJSON bool
	}{
		{name: "tools/call", body: peekSeeds[2], method: "tools/call", tool: "x", progress: float64(7), modern: true, requests: 1, single: true},
		{name: "resources/read", body: `{"id":2,"method":"resources/read","params":{"uri":"file:///a"}}`, method: "resources/read", uri: "file:///a", requests: 1, single: true},
		{name: "name not a string", body: `{"id":1,"method":"tools/call","params":{"name":5}}`, method: "tools/call", requests: 1, single: true},
		{name: "batch", body: peekSeeds[14], requests: 1},
		{name: "invalid", body: `not json`},
		{name: "empty", body: ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Peek
			p.Decode([]byte(tc.body), true)
			if p.Method() != tc.method || p.Name() != tc.tool || p.URI() != tc.uri ||
				!reflect.DeepEqual(p.ProgressToken(), tc.progress) || p.Modern("") != tc.modern ||
				p.Requests() != tc.requests || p.Single() != tc.single {
				t.Errorf("peek = method %q name %q uri %q progress %v modern %v requests %d single %v",
					p.Method(), p.Name(), p.URI(), p.ProgressToken(), p.Modern(""), p.Requests(), p.Single())
			}
		})
	}
}

// checkPeek compares p's views with the decodes the layers made of body
// before the peek (kept as DecodeMessages, messageMethods, metaOracle).
func checkPeek(t *testing.T, p *Peek, body []byte) {
	t.Helper()
	// The SSE tracker and the limits: DecodeMessages.
	want := DecodeMessages(body)
	msgs := p.Messages()
	if len(msgs) != len(want) || (msgs == nil) != (want == nil) {
		t.Fatalf("msgs = %d %v, want %d %v", len(msgs), msgs, len(want), want)
	}
	for i, m := range want {
		got := msgs[i]
		if got.Method != m.Method || !bytes.Equal(got.ID, m.ID) || (got.ID == nil) != (m.ID == nil) ||
			got.IsRequest() != m.IsRequest() || got.IsResponse() != m.IsResponse() ||
			got.IsNotification() != m.IsNotification() {
			t.Fatalf("msgs[%d] = %+v, want %+v", i, got, m)
		}
	}
	// The metrics: messageMethods.
	if wantM := messageMethods(body); !slices.Equal(p.Methods(), wantM) {
		t.Fatalf("methods = %q, want %q", p.Methods(), wantM)
	}
	// The version reconciliation: metaOracle.
	if wantMeta := metaOracle(body); p.MetaVersion() != wantMeta {
		t.Fatalf("meta = %q, want %q", p.MetaVersion(), wantMeta)
	}
	// The session requirement.
	var s struct {
		ID     json.RawMessage `json:"id"`
		Method mcp.MCPMethod   `json:"method,omitempty"`
	}
	ok := json.Unmarshal(body, &s) == nil
	if p.Single() != ok || ok && (p.Method() != string(s.Method) || !bytes.Equal(p.ID(), s.ID) || (p.ID() == nil) != (s.ID == nil)) {
		t.Fatalf("single %v method %q id %q, want %v %q %q", p.Single(), p.Method(), p.ID(), ok, s.Method, s.ID)
	}
	// Stateless cancellation.
	var c struct {
		ID     any           `json:"id"`
		Method mcp.MCPMethod `json:"method"`
	}
	ok = json.Unmarshal(body, &c) == nil
	id, gotOK := p.IDValue()
	if gotOK != ok || ok && (!reflect.DeepEqual(id, c.ID) || p.Method() != string(c.Method)) {
		t.Fatalf("IDValue = %v %v (method %q), want %v %v (%q)", id, gotOK, p.Method(), c.ID, ok, c.Method)
	}
}

// BenchmarkRequestDecode compares the decodes of a POST /mcp body the host
// made before the peek, one per layer (reconcileVersion, requireSession,
// scopeCancels, limitRequests, countRequests), with the one peek.
//
//	go test ./internal/jsonrpc -run '^$' -bench RequestDecode -benchmem
func BenchmarkRequestDecode(b *testing.B) {
	for _, body := range []struct{ name, body string }{
		{"session", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`},
		{"stateless", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}`},
	} {
		raw := []byte(body.body)
		b.Run(body.name+"/layers", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				metaOracle(raw) // reconcileVersion
				var s struct {
					ID     json.RawMessage `json:"id"`
					Method mcp.MCPMethod   `json:"method,omitempty"`
				}
				json.Unmarshal(raw, &s) // requireSession
				metaOracle(raw)
				if mcp.IsModernProtocol(metaOracle(raw)) { // scopeCancels
					var c struct {
						ID     any           `json:"id"`
						Method mcp.MCPMethod `json:"method"`
					}
					json.Unmarshal(raw, &c)
				}
				DecodeMessages(raw) // limitRequests
				messageMethods(raw) // countRequests
			}
		})
		b.Run(body.name+"/peek", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var p Peek
				p.Decode(raw, true)
				p.MetaVersion()
			}
		})
	}
	// The legacy SSE transport's POST /message: no _meta decode.
	raw := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"progressToken":3}}}`)
	b.Run("sse/layers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			DecodeMessages(raw) // limitRequests
			DecodeMessages(raw) // the SSE tracker
			messageMethods(raw) // countRequests
		}
	})
	b.Run("sse/peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var p Peek
			p.Decode(raw, false)
		}
	})
}

// metaOracle is the host's own decode of the protocol version in
// params._meta, as it read it before the peek (requestEra in
// internal/server).
func metaOracle(body []byte) string {
	var m struct {
		Params struct {
			Meta *mcp.Meta `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	return m.Params.Meta.ProtocolVersion()
}
