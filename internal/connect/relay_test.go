package connect

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHost is a minimal Streamable HTTP MCP server whose sessions can be
// forgotten, as a restarted host forgets them.
type fakeHost struct {
	mu       sync.Mutex // guards the fields below
	sessions map[string]bool
	inits    [][]byte       // every initialize body received
	posts    map[string]int // tools/call name -> POSTs received
	deleted  []string
	next     int
}

func newFakeHost() *fakeHost {
	return &fakeHost{sessions: map[string]bool{}, posts: map[string]int{}}
}

// restart forgets every session.
func (h *fakeHost) restart() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions = map[string]bool{}
}

func (h *fakeHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get(headerSession)
	switch r.Method {
	case http.MethodGet:
		http.Error(w, "no standalone stream", http.StatusMethodNotAllowed)
		return
	case http.MethodDelete:
		h.mu.Lock()
		h.deleted = append(h.deleted, sid)
		h.mu.Unlock()
		return
	}
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if msg.Method == "initialize" {
		h.next++
		sid = "s" + string(rune('0'+h.next))
		h.sessions[sid] = true
		h.inits = append(h.inits, body)
		h.mu.Unlock()
		w.Header().Set(headerSession, sid)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(msg.ID)+`,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"fake","version":"1"}}}`)
		return
	}
	known := h.sessions[sid]
	if msg.Method == "tools/call" {
		h.posts[msg.Params.Name]++
	}
	h.mu.Unlock()
	if !known {
		http.Error(w, "Invalid session ID", http.StatusNotFound)
		return
	}
	if r.Header.Get(headerProtocol) != "2025-06-18" {
		http.Error(w, "missing protocol version", http.StatusBadRequest)
		return
	}
	if len(msg.ID) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if msg.Params.Name == "cut" {
		// The host dies mid-answer: the stream is open, the call ran,
		// no response comes.
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":"+string(msg.ID)+",\"result\":{\"ok\":\""+sid+"\"}}\n\n")
}

// client drives Run through pipes, as a stdio MCP client does.
type client struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan map[string]any
}

func (c *client) send(msg string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, msg+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

// answer returns the next message to the client with an id, skipping
// notifications.
func (c *client) answer() map[string]any {
	c.t.Helper()
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				c.t.Fatal("stdout closed")
			}
			if _, ok := m["id"]; ok {
				return m
			}
		case <-time.After(20 * time.Second):
			c.t.Fatal("no answer from the relay")
		}
	}
}

// TestRelayRestartAndCutCalls checks the relay's two rules for a host
// that restarts: a request refused for an unknown session (404) has not
// run, so the relay replays the client's own initialize and
// notifications/initialized and sends it again, without showing the
// client a second initialize answer; a request whose answer was cut off
// may have run, so it is answered with an error and never sent again.
// Closing stdin ends the session with DELETE.
func TestRelayRestartAndCutCalls(t *testing.T) {
	host := newFakeHost()
	srv := httptest.NewServer(host)
	defer srv.Close()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{t: t, in: inW, lines: make(chan map[string]any, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("stdout line %q is not JSON: %v", sc.Text(), err)
				continue
			}
			c.lines <- m
		}
	}()
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{
			URL: srv.URL + "/mcp", Stdin: inR, Stdout: outW,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		outW.Close()
	}()

	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	c.send(initialize)
	if a := c.answer(); a["result"] == nil {
		t.Fatalf("initialize answer %v", a)
	}
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	c.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ok"}}`)
	if a := c.answer(); a["id"] != 2.0 || a["result"].(map[string]any)["ok"] != "s1" {
		t.Fatalf("answer %v, want id 2 in session s1", a)
	}

	host.restart()
	c.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ok"}}`)
	if a := c.answer(); a["id"] != 3.0 || a["result"] == nil || a["result"].(map[string]any)["ok"] != "s2" {
		t.Fatalf("answer %v, want id 3 in the new session s2 (no second initialize answer)", a)
	}
	host.mu.Lock()
	inits := len(host.inits)
	replayed := strings.TrimSpace(string(host.inits[len(host.inits)-1]))
	host.mu.Unlock()
	if inits != 2 || replayed != initialize {
		t.Errorf("host saw %d initializes, the last %s; want 2, the last the client's own", inits, replayed)
	}

	c.send(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"cut"}}`)
	a := c.answer()
	errObj, _ := a["error"].(map[string]any)
	if a["id"] != 4.0 || errObj == nil || !strings.Contains(errObj["message"].(string), "may have run, so it is not sent again") {
		t.Fatalf("answer %v, want an error for id 4 saying the call may have run", a)
	}
	host.mu.Lock()
	cutPosts := host.posts["cut"]
	host.mu.Unlock()
	if cutPosts != 1 {
		t.Errorf("the cut call was POSTed %d times, want 1", cutPosts)
	}

	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after stdin closed")
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if len(host.deleted) != 1 || host.deleted[0] != "s2" {
		t.Errorf("DELETEs %v, want [s2]", host.deleted)
	}
}

// TestReadEvents checks the SSE parser on the shapes hosts send.
func TestReadEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"one event", "event: message\ndata: {}\n\n", []string{"message {}"}},
		{"unnamed is message", "data: {\"a\":1}\n\n", []string{"message {\"a\":1}"}},
		{"CRLF and comments", ": ping\r\nevent: endpoint\r\ndata: /message?sessionId=x\r\n\r\n", []string{"endpoint /message?sessionId=x"}},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"message a\nb"}},
		{"id and retry ignored", "id: 7\nretry: 10\ndata: x\n\n", []string{"message x"}},
		{"unterminated event dropped", "data: x\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := readEvents(strings.NewReader(tc.in), func(event, data string) bool {
				got = append(got, event+" "+data)
				return true
			})
			if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
