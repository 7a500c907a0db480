package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestSpanFields(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
		want spanFields
	}{
		{name: "tools/call", body: `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{"name":"not this"}}}`, ok: true,
			want: spanFields{Method: "tools/call", ID: json.RawMessage(`3`), Name: "whoami"}},
		{name: "resources/read", body: ` {"jsonrpc":"2.0","id":"r1","method":"resources/read","params":{"uri":"up+file:///a"}}`, ok: true,
			want: spanFields{Method: "resources/read", ID: json.RawMessage(`"r1"`), URI: "up+file:///a"}},
		{name: "notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, ok: true,
			want: spanFields{Method: "notifications/initialized"}},
		{name: "null id", body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, ok: true, want: spanFields{Method: "ping"}},
		{name: "response", body: `{"jsonrpc":"2.0","id":1,"result":{}}`, ok: true, want: spanFields{ID: json.RawMessage(`1`)}},
		{name: "wrong types keep the rest", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":42}}`, ok: true,
			want: spanFields{Method: "tools/call", ID: json.RawMessage(`1`)}},
		{name: "params not an object", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}`, ok: true,
			want: spanFields{Method: "tools/call", ID: json.RawMessage(`1`)}},
		{name: "batch", body: `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, ok: false},
		{name: "invalid", body: `{"jsonrpc":`, ok: false},
		{name: "empty", body: ``, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", nil)
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, &requestBody{body: []byte(tt.body)}))
			got, ok := spanFieldsOf(r)
			if ok != tt.ok || got.Method != tt.want.Method || string(got.ID) != string(tt.want.ID) || got.Name != tt.want.Name || got.URI != tt.want.URI {
				t.Errorf("spanFieldsOf = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestRequestSpanNames: span names and attributes come from the request,
// but a caller cannot put arbitrary text in a span name.
func TestRequestSpanNames(t *testing.T) {
	tests := []struct {
		name     string
		peek     spanFields
		wantName string
		want     map[string]string // "" value: must be absent
	}{
		{name: "tool", peek: spanFields{Method: "tools/call", Name: "local__echo", ID: json.RawMessage(`"a"`)}, wantName: "tools/call local__echo",
			want: map[string]string{"gen_ai.tool.name": "local__echo", "jsonrpc.request.id": "a", "mcp.method.name": "tools/call"}},
		{name: "invalid tool name", peek: spanFields{Method: "tools/call", Name: "evil name\n" + strings.Repeat("x", 100)}, wantName: "tools/call",
			want: map[string]string{"gen_ai.tool.name": ""}},
		{name: "prompt", peek: spanFields{Method: "prompts/get", Name: "up__greet"}, wantName: "prompts/get up__greet",
			want: map[string]string{"gen_ai.prompt.name": "up__greet"}},
		{name: "resource uri not in the name", peek: spanFields{Method: "resources/read", URI: "up+file:///etc/x"}, wantName: "resources/read",
			want: map[string]string{"mcp.resource.uri": "up+file:///etc/x"}},
		{name: "unknown method", peek: spanFields{Method: "Robert'); DROP TABLE"}, wantName: "_OTHER",
			want: map[string]string{"mcp.method.name": "_OTHER"}},
		{name: "long method", peek: spanFields{Method: "a/" + strings.Repeat("b", 100)}, wantName: "_OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/mcp", nil)
			name, attrs := requestSpan(tt.peek, r)
			if name != tt.wantName {
				t.Errorf("span name %q, want %q", name, tt.wantName)
			}
			got := map[string]string{}
			for _, a := range attrs {
				got[string(a.Key)] = a.Value.Emit()
			}
			for k, v := range tt.want {
				if gv, ok := got[k]; (v == "" && ok) || (v != "" && gv != v) {
					t.Errorf("%s = %q (present %v), want %q", k, gv, ok, v)
				}
			}
		})
	}
}

// TestSSEWaits: a span waiting for its answer ends when the answer with
// its id (numbers as mcp-go writes them back) is written, in the order
// of a reused id; a POST not accepted takes its span back; the spans left
// end with the stream, cancelled.
func TestSSEWaits(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	span := func() *reqSpan {
		_, s := tp.Tracer("t").Start(context.Background(), "x")
		return &reqSpan{span: s}
	}
	tr := newSSETracker()
	st := &sseStream{sid: "s1", gone: make(chan struct{})}
	tr.streams["s1"] = st
	if tr.awaitAnswer("nope", json.RawMessage(`1`), span()) != nil {
		t.Fatal("awaitAnswer on a session without a stream")
	}
	a, b, c, d := span(), span(), span(), span()
	tr.awaitAnswer("s1", json.RawMessage(`1.0`), a)
	tr.awaitAnswer("s1", json.RawMessage(`1`), b)
	forget := tr.awaitAnswer("s1", json.RawMessage(`"1"`), c)
	tr.awaitAnswer("s1", json.RawMessage(`7`), d)
	forget()
	if !c.span.IsRecording() {
		t.Fatal("forget ended the span")
	}
	st.waits.answered(json.RawMessage(`1`))
	if a.span.IsRecording() || !b.span.IsRecording() {
		t.Errorf("first answer to id 1: a ended %v, b ended %v; want a only", !a.span.IsRecording(), !b.span.IsRecording())
	}
	st.waits.answered(json.RawMessage(`"1"`)) // c was taken back: nothing waits under "1"
	st.waits.answered(json.RawMessage(`1`))
	if b.span.IsRecording() {
		t.Error("second answer to id 1 did not end b")
	}
	st.waits.abandon()
	if d.span.IsRecording() || !d.outcome.Load() {
		t.Error("abandon did not end d with an outcome")
	}
	if st.waits.n.Load() != 0 {
		t.Errorf("%d ids still waiting", st.waits.n.Load())
	}
	if tr.awaitAnswer("s1", json.RawMessage(`8`), span()) != nil {
		t.Error("awaitAnswer on a stream that has ended")
	}
}
