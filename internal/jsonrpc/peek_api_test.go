package jsonrpc

import (
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// TestPeekAPI checks each accessor on bodies of every shape, with and
// without the _meta decode in the same pass.
func TestPeekAPI(t *testing.T) {
	type view struct {
		single   bool
		id       string // raw; "" for nil
		idValue  any
		idOK     bool
		method   string
		name     string
		uri      string
		methods  []string
		requests int
		msgs     int
		meta     string
		progress any
	}
	const modern = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":"p1"}`
	for _, tt := range []struct {
		name string
		body string
		want view
		// withMeta, when set, is the view when Decode decodes _meta in
		// the same pass, where it differs from want.
		withMeta *view
	}{
		{name: "empty", body: ``},
		{name: "not JSON", body: `{"id":1,"method":`},
		{name: "a string", body: `"tools/list"`},
		{name: "null", body: `null`, want: view{single: true, idOK: true, msgs: 1}},
		{name: "request", body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			want: view{single: true, id: `1`, idValue: float64(1), idOK: true, method: "tools/list", methods: []string{"tools/list"}, requests: 1, msgs: 1}},
		{name: "tools/call with name and stateless meta", body: `{"id":"c","method":"tools/call","params":{"name":"whoami",` + modern + `}}`,
			want: view{single: true, id: `"c"`, idValue: "c", idOK: true, method: "tools/call", name: "whoami", methods: []string{"tools/call"}, requests: 1, msgs: 1, meta: "2026-07-28", progress: "p1"}},
		{name: "resources/read with uri", body: `{"id":2,"method":"resources/read","params":{"uri":"file:///a"}}`,
			want: view{single: true, id: `2`, idValue: float64(2), idOK: true, method: "resources/read", uri: "file:///a", methods: []string{"resources/read"}, requests: 1, msgs: 1}},
		{name: "name not a string", body: `{"id":3,"method":"tools/call","params":{"name":["x"]}}`,
			want: view{single: true, id: `3`, idValue: float64(3), idOK: true, method: "tools/call", methods: []string{"tools/call"}, requests: 1, msgs: 1}},
		{name: "notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			want: view{single: true, idOK: true, method: "notifications/initialized", methods: []string{"notifications/initialized"}, msgs: 1}},
		{name: "notification with null id", body: `{"id":null,"method":"notifications/cancelled","params":{"requestId":1}}`,
			want: view{single: true, id: `null`, idOK: true, method: "notifications/cancelled", methods: []string{"notifications/cancelled"}, msgs: 1}},
		{name: "response", body: `{"jsonrpc":"2.0","id":5,"result":{}}`,
			want: view{single: true, id: `5`, idValue: float64(5), idOK: true, msgs: 1}},
		{name: "error response", body: `{"id":5,"error":{"code":-32601,"message":"no"}}`,
			want: view{single: true, id: `5`, idValue: float64(5), idOK: true, msgs: 1}},
		{name: "id out of float64 range", body: `{"id":1e400,"method":"tools/list"}`,
			want: view{single: true, id: `1e400`, method: "tools/list", methods: []string{"tools/list"}, requests: 1, msgs: 1}},
		{name: "negative id out of range", body: `{"id":-1e400,"method":"ping"}`,
			want: view{single: true, id: `-1e400`, method: "ping", methods: []string{"ping"}, requests: 1, msgs: 1}},
		{name: "long integer id", body: `{"id":123456789012345678901234567890,"method":"ping"}`,
			want: view{single: true, id: `123456789012345678901234567890`, idValue: 1.2345678901234568e+29, idOK: true, method: "ping", methods: []string{"ping"}, requests: 1, msgs: 1}},
		{name: "object id", body: `{"id":{"k":1},"method":"ping"}`,
			want: view{single: true, id: `{"k":1}`, idValue: map[string]any{"k": float64(1)}, idOK: true, method: "ping", methods: []string{"ping"}, requests: 1, msgs: 1}},
		{name: "boolean id", body: `{"id":true,"method":"ping"}`,
			want: view{single: true, id: `true`, idValue: true, idOK: true, method: "ping", methods: []string{"ping"}, requests: 1, msgs: 1}},
		{name: "method not a string", body: `{"id":1,"method":7}`,
			want: view{}},
		{name: "bad _meta", body: `{"id":1,"method":"tools/call","params":{"name":"x","_meta":3}}`,
			want:     view{single: true, id: `1`, idValue: float64(1), idOK: true, method: "tools/call", name: "x", methods: []string{"tools/call"}, requests: 1, msgs: 1},
			withMeta: &view{single: true, id: `1`, idValue: float64(1), idOK: true, method: "tools/call", methods: []string{"tools/call"}, requests: 1, msgs: 1}},
		{name: "batch", body: `[{"id":1,"method":"tools/list"},{"method":"notifications/initialized"},{"id":9,"result":{}},{"id":2,"method":"ping"}]`,
			want: view{methods: []string{"tools/list", "notifications/initialized", "ping"}, requests: 2, msgs: 4}},
		{name: "batch with a malformed message", body: `[{"id":1,"method":"tools/list"},{"id":2,"method":9}]`,
			want: view{requests: 1, msgs: 2}},
		{name: "batch of responses", body: `[{"id":1,"result":1},{"id":2,"error":{}}]`,
			want: view{msgs: 2}},
		{name: "empty batch", body: `[]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, withMeta := range []bool{false, true} {
				want := tt.want
				if withMeta && tt.withMeta != nil {
					want = *tt.withMeta
				}
				var p Peek
				p.Decode([]byte(tt.body), withMeta)
				idValue, idOK := p.IDValue()
				got := view{
					single: p.Single(), id: string(p.ID()), idValue: idValue, idOK: idOK,
					method: p.Method(), name: p.Name(), uri: p.URI(), methods: p.Methods(),
					requests: p.Requests(), msgs: len(p.Messages()), meta: p.MetaVersion(), progress: p.ProgressToken(),
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("withMeta %v:\n got %+v\nwant %+v", withMeta, got, want)
				}
				if wantModern := want.meta != ""; p.Modern("") != wantModern || !p.Modern("2026-07-28") || p.Modern("2025-06-18") != wantModern {
					t.Errorf("withMeta %v: Modern wrong for meta %q", withMeta, want.meta)
				}
			}
		})
	}
}

// TestPeekZero checks that the zero Peek is the view of an empty body.
func TestPeekZero(t *testing.T) {
	var zero, empty Peek
	empty.Decode(nil, true)
	for _, p := range []*Peek{&zero, &empty} {
		id, ok := p.IDValue()
		if p.Messages() != nil || p.Methods() != nil || p.Single() || p.ID() != nil || p.Method() != "" ||
			p.Name() != "" || p.URI() != "" || id != nil || ok || p.MetaVersion() != "" ||
			p.ProgressToken() != nil || p.Modern("") || p.Requests() != 0 {
			t.Errorf("peek %p is not the empty view", p)
		}
	}
}

// TestPeekConcurrentMeta reads a shared Peek from many goroutines while
// the _meta decode happens on first use (run it with -race).
func TestPeekConcurrentMeta(t *testing.T) {
	var p Peek
	p.Decode([]byte(`{"id":1,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":2}}}`), false)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for range 16 {
		wg.Go(func() {
			if p.MetaVersion() != "2026-07-28" || p.ProgressToken() != float64(2) || !p.Modern("") ||
				p.Name() != "x" || !slices.Equal(p.Methods(), []string{"tools/call"}) {
				errs <- "wrong view"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestPeekKeepsIDRaw checks that the raw id is the bytes sent, not a
// re-encoding (a client matches its answer by them).
func TestPeekKeepsIDRaw(t *testing.T) {
	for _, tt := range []struct {
		name, body, id string
	}{
		{name: "exponent", body: `{"id":1.0e2,"method":"ping"}`, id: `1.0e2`},
		{name: "escaped string", body: `{"id":"\u0061","method":"ping"}`, id: `"\u0061"`},
		{name: "last duplicate wins", body: `{"id":1,"id":2,"method":"ping"}`, id: `2`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p Peek
			p.Decode([]byte(tt.body), false)
			if got := string(p.ID()); got != tt.id {
				t.Errorf("ID = %s, want %s", got, tt.id)
			}
			var want any
			json.Unmarshal([]byte(tt.id), &want)
			if got, ok := p.IDValue(); !ok || got != want {
				t.Errorf("IDValue = %v %v, want %v", got, ok, want)
			}
		})
	}
}
