package conn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// modernUpstream is an httptest server whose handler answers each POST
// through respond, given the request's JSON-RPC id (as JSON); it records
// the requests' headers and bodies.
type modernUpstream struct {
	srv  *httptest.Server
	logs *testutil.Buffer
	r    *Remote

	mu      sync.Mutex // guards the fields below
	headers []http.Header
	bodies  []map[string]json.RawMessage
}

func newModernUpstream(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, id string)) *modernUpstream {
	t.Helper()
	u := &modernUpstream{logs: &testutil.Buffer{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("request body: %v", err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.bodies = append(u.bodies, body)
		u.mu.Unlock()
		respond(w, r, string(body["id"]))
	}))
	log := slog.New(slog.NewTextHandler(u.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	u.r = NewRemote(u.srv.URL, log, guard, nil)
	t.Cleanup(func() {
		u.r.CloseIdle()
		u.srv.Close()
	})
	return u
}

// notification is one notification Do handed over.
type notification struct {
	method string
	params string
}

// sse writes events (each a JSON-RPC message, or raw SSE text when it
// starts with "raw:") as an event stream, flushing after each.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		if raw, ok := strings.CutPrefix(e, "raw:"); ok {
			io.WriteString(w, raw)
		} else {
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", e)
		}
		w.(http.Flusher).Flush()
	}
}

// jsonBody writes body as application/json with status.
func jsonBody(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func result(id, res string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"result":` + res + `}`
}

func note(method, params string) string {
	return `{"jsonrpc":"2.0","method":"` + method + `","params":` + params + `}`
}

func TestModernDo(t *testing.T) {
	before := runtime.NumGoroutine()
	defer waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	progress1 := note("notifications/progress", `{"progressToken":"p","progress":1}`)
	progress2 := note("notifications/progress", `{"progressToken":"p","progress":2}`)
	logMsg := note("notifications/message", `{"level":"info","data":"hi"}`)
	wantNotes := []notification{
		{"notifications/progress", `{"progressToken":"p","progress":1}`},
		{"notifications/message", `{"level":"info","data":"hi"}`},
		{"notifications/progress", `{"progressToken":"p","progress":2}`},
	}
	big := `"` + strings.Repeat("x", 2000) + `"`
	tests := []struct {
		name       string
		maxMessage int
		respond    func(w http.ResponseWriter, r *http.Request, id string)
		want       string         // the result, compacted
		wantNotes  []notification // notifications handed over, in order
		wantRPC    *RPCError      // the JSON-RPC error wanted
		wantErr    string         // a plain error containing this
		wantLog    string         // a log record containing this
	}{
		{
			name: "application/json, one message",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 200, result(id, `{"content":[{"type":"text","text":"ok"}]}`))
			},
			want: `{"content":[{"type":"text","text":"ok"}]}`,
		},
		{
			name: "application/json, one pretty-printed message",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 200, "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": "+id+",\n  \"result\": {\"s\": \"}{\\\"]\"}\n}\n")
			},
			want: `{"s": "}{\"]"}`,
		},
		{
			name: "event stream: notifications in order, then the answer",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, progress1,
					// A comment, an id field, CRLF line ends and data
					// split over lines (joined with "\n").
					"raw:: keep-alive\n\nid: 7\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\r\n\r\n",
					progress2, result(id, `{"n":1}`))
			},
			want:      `{"n":1}`,
			wantNotes: wantNotes,
		},
		{
			name: "event stream: the last event without its blank line",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, "raw:data: "+result(id, `{"n":2}`))
			},
			want: `{"n":2}`,
		},
		{
			name: "newline-delimited JSON: notifications, then the answer",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "application/json")
				for _, m := range []string{progress1, logMsg, progress2, result(id, `{"n":3}`)} {
					io.WriteString(w, m+"\n")
					w.(http.Flusher).Flush()
				}
			},
			want:      `{"n":3}`,
			wantNotes: wantNotes,
		},
		{
			name: "JSON-RPC error on 200",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 200, `{"jsonrpc":"2.0","id":`+id+`,"error":{"code":-32602,"message":"unknown tool"}}`)
			},
			wantRPC: &RPCError{Status: 200, Code: -32602, Message: "unknown tool"},
		},
		{
			name: "JSON-RPC error on 400 with a null id and data",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 400, `{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"header mismatch","data":{"header":"Mcp-Name"}}}`)
			},
			wantRPC: &RPCError{Status: 400, Code: -32001, Message: "header mismatch", Data: json.RawMessage(`{"header":"Mcp-Name"}`)},
		},
		{
			name: "JSON-RPC error on 404",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 404, `{"jsonrpc":"2.0","id":`+id+`,"error":{"code":-32601,"message":"Method not found","data":"tools/frob"}}`)
			},
			wantRPC: &RPCError{Status: 404, Code: -32601, Message: "Method not found", Data: json.RawMessage(`"tools/frob"`)},
		},
		{
			name: "JSON-RPC error on an event stream",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, progress1, `{"jsonrpc":"2.0","id":`+id+`,"error":{"code":-32603,"message":"boom"}}`)
			},
			wantNotes: wantNotes[:1],
			wantRPC:   &RPCError{Status: 200, Code: -32603, Message: "boom"},
		},
		{
			name: "HTTP error without a JSON-RPC body: bounded, sanitized",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				io.WriteString(w, "<h1>Bad \x1b[31mgateway</h1>"+strings.Repeat("y", 5000))
			},
			wantErr: "upstream answered HTTP 502: <h1>Bad \ufffd[31mgateway</h1>yyy",
		},
		{
			name: "HTTP error page that never ends: only its start is read",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(503)
				io.WriteString(w, "<p>down</p>"+strings.Repeat("y", 5000))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			wantErr: "upstream answered HTTP 503: <p>down</p>yyy",
		},
		{
			name: "HTTP error with JSON that is not JSON-RPC",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 401, `{"error":"invalid_token"}`)
			},
			wantErr: `upstream answered HTTP 401: {"error":"invalid_token"}`,
		},
		{
			name: "a server request on the stream is skipped",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, progress1,
					`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}`,
					`{"jsonrpc":"2.0","id":"s2","method":"roots/list"}`,
					result(id, `{"n":4}`))
			},
			want:      `{"n":4}`,
			wantNotes: wantNotes[:1],
			wantLog:   `upstream sent requests on a 2026-07-28 response, skipped" count=2 first=sampling/createMessage`,
		},
		{
			name:       "oversized message in a JSON body",
			maxMessage: 1000,
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 200, result(id, big))
			},
			wantErr: "a message from the upstream is longer than 1000 bytes",
		},
		{
			name:       "oversized event",
			maxMessage: 1000,
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, result(id, big))
			},
			wantErr: "a message from the upstream is longer than 1000 bytes",
		},
		{
			name:       "oversized event over several data lines",
			maxMessage: 1000,
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, "raw:"+strings.Repeat("data: "+strings.Repeat("z", 300)+"\n", 4)+"\n")
			},
			wantErr: "a message from the upstream is longer than 1000 bytes",
		},
		{
			name:       "oversized message that never ends, in a JSON body",
			maxMessage: 1000,
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"jsonrpc":"2.0","id":`+id+`,"result":"`+strings.Repeat("x", 200<<10))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			wantErr: "a message from the upstream is longer than 1000 bytes",
		},
		{
			name:       "oversized event that never ends",
			maxMessage: 1000,
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, "raw:data: "+`{"jsonrpc":"2.0","id":`+id+`,"result":"`+strings.Repeat("x", 200<<10))
				<-r.Context().Done()
			},
			wantErr: "a message from the upstream is longer than 1000 bytes",
		},
		{
			name:       "a message of exactly the bound",
			maxMessage: len(result(`"tsmcp-m-1"`, big)),
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, result(id, big))
			},
			want: big,
		},
		{
			name: "event stream ending without the answer",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, progress1)
			},
			wantNotes: wantNotes[:1],
			wantErr:   "the response ended without the answer",
		},
		{
			name: "JSON body ending inside the answer",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, progress1+"\n"+`{"jsonrpc":"2.0","id":`+id+`,"result":{`)
			},
			wantNotes: wantNotes[:1],
			wantErr:   "the response ended inside a message",
		},
		{
			name: "an answer with another id",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, result(`"tsmcp-m-999"`, `{}`))
			},
			wantErr: `the upstream answered another request (id "tsmcp-m-999", want "tsmcp-m-1")`,
		},
		{
			name: "an undecodable event",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				sse(w, `{"jsonrpc":"2.0",`)
			},
			wantErr: "undecodable message from the upstream",
		},
		{
			name: "not JSON-RPC 2.0",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				jsonBody(w, 200, `{"jsonrpc":"1.0","id":`+id+`,"result":{}}`)
			},
			wantErr: `not JSON-RPC 2.0 (jsonrpc "1.0")`,
		},
		{
			name: "a 2xx of another content type",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "hello")
			},
			wantErr: `upstream answered HTTP 200 with content type "text/plain", not JSON nor an event stream`,
		},
		{
			name: "202 without a body",
			respond: func(w http.ResponseWriter, r *http.Request, id string) {
				w.WriteHeader(http.StatusAccepted)
			},
			wantErr: "upstream answered HTTP 202",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newModernUpstream(t, tt.respond)
			m := u.r.Modern(nil, tt.maxMessage)
			var notes []notification
			// guard: a response that stalls must not wait for its end.
			ctx, cancel := context.WithTimeout(context.Background(), guard)
			defer cancel()
			res, err := m.Do(ctx, "tools/call", json.RawMessage(`{"name":"echo","arguments":{}}`),
				func(method string, params json.RawMessage) {
					notes = append(notes, notification{method, string(params)})
				})
			if fmt.Sprint(notes) != fmt.Sprint(tt.wantNotes) {
				t.Errorf("notifications %v, want %v", notes, tt.wantNotes)
			}
			if tt.wantLog != "" && !strings.Contains(u.logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, u.logs.String())
			}
			var re *RPCError
			switch {
			case tt.wantRPC != nil:
				if !errors.As(err, &re) {
					t.Fatalf("Do = %s, %v; want %+v", res, err, tt.wantRPC)
				}
				if re.Status != tt.wantRPC.Status || re.Code != tt.wantRPC.Code || re.Message != tt.wantRPC.Message || string(re.Data) != string(tt.wantRPC.Data) {
					t.Errorf("RPCError %+v (data %s), want %+v (data %s)", re, re.Data, tt.wantRPC, tt.wantRPC.Data)
				}
			case tt.wantErr != "":
				if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Do = %s, %v; want a plain error containing %q", res, err, tt.wantErr)
				}
				if errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Do waited for the guard's deadline: %v", err)
				}
				if !strings.HasPrefix(err.Error(), "tools/call to upstream: ") {
					t.Errorf("error %q does not name the request", err)
				}
				if len(err.Error()) > 400 {
					t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
				}
			default:
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if string(res) != tt.want {
					t.Errorf("result %s, want %s", res, tt.want)
				}
			}
		})
	}
}

// TestEventReader reads event streams directly: what events' data is.
func TestEventReader(t *testing.T) {
	long := strings.Repeat("c", 100<<10) // longer than the read buffer
	tests := []struct {
		name   string
		stream string
		want   []string
	}{
		{name: "one event", stream: "data: a\n\n", want: []string{"a"}},
		{name: "data lines joined with newlines", stream: "data: a\ndata:b\ndata\ndata:  c\n\n", want: []string{"a\nb\n\n c"}},
		{name: "CRLF line ends", stream: "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", want: []string{"a\nb", "c"}},
		{name: "other fields and comments skipped", stream: ": hi\nevent: message\nid: 4\nretry: 10\ndatum: x\ndata: a\n\n", want: []string{"a"}},
		{name: "events without data skipped", stream: "id: 1\n\n: ping\n\ndata: a\n\n\n\ndata: b\n\n", want: []string{"a", "b"}},
		{name: "a long comment skipped", stream: ":" + long + "\ndata: a\n\n", want: []string{"a"}},
		{name: "a long data line kept", stream: "data: " + long + "\n\n", want: []string{long}},
		{name: "the last event without its blank line", stream: "data: a\n\ndata: b", want: []string{"a", "b"}},
		{name: "empty stream", stream: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventReader(strings.NewReader(tt.stream), 1<<20)
			var got []string
			for {
				data, err := e.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(data))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// TestModernRequest checks what goes on the wire: the protocol headers
// (which configured headers cannot replace), no session ID, the body as
// the caller built it with an id of our own, unique per request.
func TestModernRequest(t *testing.T) {
	u := newModernUpstream(t, func(w http.ResponseWriter, r *http.Request, id string) {
		jsonBody(w, 200, result(id, `{}`))
	})
	m := u.r.Modern(map[string]string{
		"Authorization":        "Bearer upstream-token",
		"X-Team":               "blue",
		"mcp-protocol-version": "2025-11-25",
		"Mcp-Session-Id":       "configured-session",
		"Mcp-Method":           "ping",
		"Content-Type":         "text/plain",
		"Accept":               "text/html",
	}, 0)
	params := `{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":"p"},"name":"echo","arguments":{"text":"hi"}}`
	for _, c := range []struct{ method, params string }{
		{"tools/call", params},
		{"resources/read", `{"uri":"file:///a b"}`},
		{"tools/list", ""},
	} {
		var p json.RawMessage
		if c.params != "" {
			p = json.RawMessage(c.params)
		}
		if _, err := m.Do(context.Background(), c.method, p, nil); err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	tests := []struct {
		name    string
		method  string
		mcpName string // "" means absent
		params  string // "" means absent
	}{
		{name: "tools/call", method: "tools/call", mcpName: "echo", params: params},
		{name: "resources/read", method: "resources/read", mcpName: "file:///a b", params: `{"uri":"file:///a b"}`},
		{name: "tools/list without params", method: "tools/list"},
	}
	ids := map[string]bool{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body := u.headers[i], u.bodies[i]
			for k, want := range map[string]string{
				"Mcp-Protocol-Version": "2026-07-28",
				"Mcp-Method":           tt.method,
				"Mcp-Name":             tt.mcpName,
				"Mcp-Session-Id":       "",
				"Content-Type":         "application/json",
				"Accept":               "application/json, text/event-stream",
				"Authorization":        "Bearer upstream-token",
				"X-Team":               "blue",
			} {
				if got := h.Values(k); strings.Join(got, ",") != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if string(body["jsonrpc"]) != `"2.0"` || string(body["method"]) != `"`+tt.method+`"` {
				t.Errorf("body %v", body)
			}
			if got := string(body["params"]); got != tt.params {
				t.Errorf("params %s, want %s", got, tt.params)
			}
			var id string
			if err := json.Unmarshal(body["id"], &id); err != nil || !strings.HasPrefix(id, "tsmcp-m-") || ids[id] {
				t.Errorf("id %s: not a fresh tsmcp-m-<n>", body["id"])
			}
			ids[id] = true
		})
	}
}

// TestModernAs: the client of a Remote made by As sends through its wrap
// (the caller's credentials).
func TestModernAs(t *testing.T) {
	u := newModernUpstream(t, func(w http.ResponseWriter, r *http.Request, id string) {
		jsonBody(w, 200, result(id, `{}`))
	})
	a := u.r.As(func(base http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer alice")
			return base.RoundTrip(r)
		})
	})
	if _, err := a.Modern(nil, 0).Do(context.Background(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if got := u.headers[0].Get("Authorization"); got != "Bearer alice" {
		t.Errorf("Authorization %q, want the wrap's", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestModernCancel: cancelling the context ends a call whose stream
// stalls (after a notification, before the answer), with the context's
// error, and leaves no goroutine behind.
func TestModernCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		u := newModernUpstream(t, func(w http.ResponseWriter, r *http.Request, id string) {
			sse(w, note("notifications/progress", `{"progressToken":"p","progress":1}`))
			<-r.Context().Done() // stalls until the client goes away
		})
		defer u.r.CloseIdle()
		defer u.srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := u.r.Modern(nil, 0).Do(ctx, "tools/call", json.RawMessage(`{"name":"slow"}`),
				func(string, json.RawMessage) { cancel() })
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Do = %v, want context.Canceled", err)
			}
		case <-time.After(guard):
			t.Fatal("Do did not return after its context was cancelled")
		}
	}()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
