package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/devnet"
	"github.com/tsmcp/tsmcp/internal/server"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// sendMCP sends a raw request to url as hc, with MCP's content headers and
// then hdr, where a "Host" entry sets the request's Host. The response body
// is closed when the test ends.
func sendMCP(ctx context.Context, t *testing.T, hc *http.Client, method, url string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// postMCP sends a raw JSON-RPC POST to url with extra headers.
func postMCP(t *testing.T, hc *http.Client, url string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	return sendMCP(context.Background(), t, hc, http.MethodPost, url, body, hdr)
}

// sessionHeaders are the headers of a request in Streamable HTTP session
// sid (protocol 2025-06-18).
func sessionHeaders(sid string) map[string]string {
	return map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
}

// isMCPAnswer reports whether resp is a successful MCP initialize answer.
func isMCPAnswer(resp *http.Response) bool {
	if resp.StatusCode != http.StatusOK {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return bytes.Contains(b, []byte(`"protocolVersion"`)) && bytes.Contains(b, []byte(`"jsonrpc"`))
}

// TestOversizedBodyIs413 sends the oversized bodies by hand on a
// connection of their own and stops writing where the host must have
// answered: a body announced too big is refused before a byte of it is
// sent, and one of unknown length as soon as the limit is crossed. (A
// client that keeps writing after the answer races the host's close, and
// its kernel may drop the 413 on the reset that follows.)
func TestOversizedBodyIs413(t *testing.T) {
	tn := startTailnet(t)
	c := tn.callers()[0]
	max := 4 << 20 // mcp.max_body default, 4MiB
	tests := []struct {
		name string
		path string
		// chunked hides the length, so the limit is found while reading.
		chunked bool
	}{
		{"mcp/content-length", "/mcp", false},
		{"mcp/chunked", "/mcp", true},
		{"message/content-length", "/message?sessionId=x", false},
		{"message/chunked", "/message?sessionId=x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn, err := c.node.Dial(ctx, "tcp", strings.TrimPrefix(tn.hostURL, "http://")+":80")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			head := "POST " + tt.path + " HTTP/1.1\r\nHost: tsmcp\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
			w := bufio.NewWriter(conn)
			if tt.chunked {
				fmt.Fprintf(w, "%sTransfer-Encoding: chunked\r\n\r\n", head)
				// One byte over the limit, without the last chunk: the
				// host has all it needs to refuse, and nothing is left
				// unread when it closes.
				chunk := strings.Repeat("x", 64<<10)
				for sent := 0; sent <= max; sent += len(chunk) {
					fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk)
				}
			} else {
				fmt.Fprintf(w, "%sContent-Length: %d\r\n\r\n", head, max+1)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413", resp.StatusCode)
			}
		})
	}
	t.Run("just under the limit is served", func(t *testing.T) {
		resp := postMCP(t, c.httpClient(), tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
		if !isMCPAnswer(resp) {
			t.Fatalf("status = %d, want an MCP answer", resp.StatusCode)
		}
	})
}

// TestForeignHostIs403 is the DNS-rebinding case: a page that rebinds its
// own name to the host's tailnet IP sends a Host (and Origin) of its own.
func TestForeignHostIs403(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	tests := []struct {
		name, host, origin string
		want               int
	}{
		{"rebinding page", "evil.example", "http://evil.example", http.StatusForbidden},
		{"rebinding page, no Origin", "evil.example:80", "", http.StatusForbidden},
		{"localhost", "localhost", "", http.StatusForbidden},
		{"short MagicDNS name", "tsmcp", "", http.StatusOK},
		{"short name, any case, with port", "TSMCP:80", "", http.StatusOK},
		{"MagicDNS FQDN", "tsmcp." + devnet.MagicDNSDomain, "", http.StatusOK},
		{"MagicDNS FQDN with same Origin", "tsmcp." + devnet.MagicDNSDomain, "http://tsmcp." + devnet.MagicDNSDomain, http.StatusOK},
		{"tailnet IP", tn.host.TailnetIP().String(), "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Host": tt.host}
			if tt.origin != "" {
				hdr["Origin"] = tt.origin
			}
			resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(initializeBody), hdr)
			if resp.StatusCode != tt.want {
				t.Fatalf("Host %q: status %d, want %d", tt.host, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestWrongMethodIs405(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	tests := []struct{ method, path, allow string }{
		{http.MethodPut, "/mcp", "GET, POST, DELETE"},
		{http.MethodOptions, "/mcp", "GET, POST, DELETE"},
		{http.MethodPost, "/sse", "GET"},
		{http.MethodGet, "/message", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tn.hostURL+tt.path, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
				t.Fatalf("status %d Allow %q, want 405 %q", resp.StatusCode, resp.Header.Get("Allow"), tt.allow)
			}
			assertNoCORS(t, resp)
		})
	}
}

func TestForeignOriginIs403(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	hostOrigin := tn.hostURL // http://100.64.0.1
	tests := []struct {
		name   string
		origin string
		path   string
		want   int
	}{
		{"foreign/mcp", "https://evil.example", "/mcp", http.StatusForbidden},
		{"foreign/sse", "https://evil.example", "/sse", http.StatusForbidden},
		{"foreign/message", "https://evil.example", "/message?sessionId=x", http.StatusForbidden},
		{"localhost page", "http://localhost:6274", "/mcp", http.StatusForbidden},
		{"null origin", "null", "/mcp", http.StatusForbidden},
		{"same host other port", hostOrigin + ":8080", "/mcp", http.StatusForbidden},
		{"same origin", hostOrigin, "/mcp", http.StatusOK},
		{"no origin (non-browser client)", "", "/mcp", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.origin != "" {
				hdr["Origin"] = tt.origin
			}
			method, body := http.MethodPost, io.Reader(strings.NewReader(initializeBody))
			if tt.path == "/sse" {
				method, body = http.MethodGet, nil
			}
			resp := sendMCP(context.Background(), t, hc, method, tn.hostURL+tt.path, body, hdr)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			assertNoCORS(t, resp)
			if tt.want == http.StatusForbidden {
				// Not a bare "Forbidden": why, and what to do.
				b, _ := io.ReadAll(resp.Body)
				for _, w := range []string{"web page", "Origin", `Connection Type "Via Proxy"`} {
					if !strings.Contains(string(b), w) {
						t.Errorf("refusal body %q does not say %q", b, w)
					}
				}
			}
		})
	}
}

func assertNoCORS(t *testing.T, resp *http.Response) {
	t.Helper()
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("response has CORS header %s: %v", k, resp.Header[k])
		}
	}
}

// openSSE opens /sse as hc and returns the message endpoint it announces
// and a reader of the rest of the stream.
func openSSE(t *testing.T, ctx context.Context, hc *http.Client, baseURL string) (endpoint string, stream *bufio.Reader, resp *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET /sse: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sse: status %d", resp.StatusCode)
	}
	assertNoCORS(t, resp)
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading SSE endpoint event: %v", err)
		}
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			return data, br, resp
		}
	}
}

func TestSSEKeepalive(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, stream, _ := openSSE(t, ctx, tn.callers()[0].httpClient(), tn.hostURL)
	// The shared host pings every testKeepalive; wait for one.
	for {
		line, err := stream.ReadString('\n')
		if err != nil {
			t.Fatalf("no keepalive before the stream ended: %v", err)
		}
		if strings.Contains(line, "ping") {
			return
		}
	}
}

// sessionURL returns the absolute message URL from an SSE endpoint event.
func sessionURL(baseURL, endpoint string) string {
	if strings.HasPrefix(endpoint, "http") {
		return endpoint
	}
	return baseURL + endpoint
}

func TestSessionsBelongToTheirOpener(t *testing.T) {
	tn := startTailnet(t)
	cs := tn.callers()
	alice, bob, ci := cs[0].httpClient(), cs[1].httpClient(), cs[2].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("sse", func(t *testing.T) {
		endpoint, _, _ := openSSE(t, ctx, alice, tn.hostURL)
		msgURL := sessionURL(tn.hostURL, endpoint)
		for _, thief := range []struct {
			name string
			hc   *http.Client
		}{{"bob", bob}, {"tagged node", ci}} {
			t.Run(thief.name, func(t *testing.T) {
				resp := postMCP(t, thief.hc, msgURL, strings.NewReader(initializeBody), nil)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("%s using alice's SSE session: status %d, want 404", thief.name, resp.StatusCode)
				}
			})
		}
		t.Run("decoy header with the stolen query", func(t *testing.T) {
			// bob's own session in the header must not vouch for
			// alice's in the query, which is what the SSE transport uses.
			bobInit := postMCP(t, bob, tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
			hdr := map[string]string{"Mcp-Session-Id": bobInit.Header.Get("Mcp-Session-Id")}
			resp := postMCP(t, bob, msgURL, strings.NewReader(initializeBody), hdr)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
		})
		t.Run("stolen ID as a second query value", func(t *testing.T) {
			resp := postMCP(t, bob, msgURL+"&sessionId=0000", strings.NewReader(initializeBody), nil)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d, want 404", resp.StatusCode)
			}
		})
		resp := postMCP(t, alice, msgURL, strings.NewReader(initializeBody), nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("alice using her own session: status %d, want 202", resp.StatusCode)
		}
	})

	t.Run("streamable", func(t *testing.T) {
		resp := postMCP(t, alice, tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
		sid := resp.Header.Get("Mcp-Session-Id")
		if resp.StatusCode != http.StatusOK || sid == "" {
			t.Fatalf("initialize: status %d, session %q", resp.StatusCode, sid)
		}
		list := `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`
		hdr := sessionHeaders(sid)
		for _, thief := range []struct {
			name string
			hc   *http.Client
		}{{"bob", bob}, {"tagged node", ci}} {
			t.Run(thief.name, func(t *testing.T) {
				resp := postMCP(t, thief.hc, tn.hostURL+"/mcp", strings.NewReader(list), hdr)
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("POST with alice's session: status %d, want 404", resp.StatusCode)
				}
				for _, method := range []string{http.MethodGet, http.MethodDelete} {
					dresp := sendMCP(context.Background(), t, thief.hc, method, tn.hostURL+"/mcp", nil, hdr)
					if dresp.StatusCode != http.StatusNotFound {
						t.Fatalf("%s with alice's session: status %d, want 404", method, dresp.StatusCode)
					}
				}
			})
		}
		resp = postMCP(t, alice, tn.hostURL+"/mcp", strings.NewReader(list), hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("alice using her own session: status %d, want 200", resp.StatusCode)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		made := "0123456789abcdef0123456789abcdef"
		hdr := sessionHeaders(made)
		resp := postMCP(t, alice, tn.hostURL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`), hdr)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST with a made-up session: status %d, want 404", resp.StatusCode)
		}
		gresp := sendMCP(context.Background(), t, alice, http.MethodGet, tn.hostURL+"/mcp", nil, hdr)
		if gresp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET stream with a made-up session: status %d, want 404", gresp.StatusCode)
		}
		mresp := postMCP(t, alice, tn.hostURL+"/message?sessionId="+made, strings.NewReader(initializeBody), nil)
		if mresp.StatusCode != http.StatusNotFound {
			t.Fatalf("SSE message to a made-up session: status %d, want 404", mresp.StatusCode)
		}
	})

	if n := len(tn.logs.JSONLines("session_hijack")); n < 4 {
		t.Errorf("audit has %d session_hijack lines, want at least 4", n)
	}
}

// TestHealthListenerServesNoMCP sends raw request lines (no client
// cleans them) to the health listener: only the exact paths /health,
// /readyz and /metrics (TestPrometheusScrapesMetrics) are served; everything else, non-canonical spellings of those
// paths included, gets the fixed 404 body, never a redirect.
func TestHealthListenerServesNoMCP(t *testing.T) {
	tn := startTailnet(t)
	addr := tn.host.HealthAddr().String()
	const notFound = "404 not found\n"
	tests := []struct {
		name, method, target string
		want                 int
		body                 string
	}{
		{"health", "GET", "/health", 200, "ok\n"},
		{"readyz", "GET", "/readyz", 200, "ready\n"},
		{"mcp POST", "POST", "/mcp", 404, notFound},
		{"mcp GET", "GET", "/mcp", 404, notFound},
		{"sse", "GET", "/sse", 404, notFound},
		{"message", "POST", "/message?sessionId=x", 404, notFound},
		{"root", "GET", "/", 404, notFound},
		{"trailing slash metrics", "GET", "/metrics/", 404, notFound},
		{"double slash metrics", "GET", "//metrics", 404, notFound},
		{"double slash mcp", "POST", "//mcp", 404, notFound},
		{"dot segment mcp", "POST", "/./mcp", 404, notFound},
		{"dot-dot segment mcp", "GET", "/x/../mcp", 404, notFound},
		{"trailing slash health", "GET", "/health/", 404, notFound},
		{"double slash health", "GET", "//health", 404, notFound},
		{"dot segment readyz", "GET", "/./readyz", 404, notFound},
		{"escaped slash health", "GET", "/%2Fhealth", 404, notFound},
		{"absolute-form mcp", "GET", "http://" + addr + "//mcp", 404, notFound},
		{"asterisk", "OPTIONS", "*", 404, notFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			body := initializeBody
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
				"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
				tt.method, tt.target, addr, len(body), body)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || string(b) != tt.body {
				t.Fatalf("%s %s = %d %q (Location %q), want %d %q", tt.method, tt.target, resp.StatusCode, b,
					resp.Header.Get("Location"), tt.want, tt.body)
			}
		})
	}
}

func TestUnknownTailnetPathIs404(t *testing.T) {
	tn := startTailnet(t)
	code, _ := get(t, tn.callers()[0].httpClient(), tn.hostURL+"/health")
	if code != http.StatusNotFound {
		t.Fatalf("GET /health on the tailnet = %d, want 404", code)
	}
}

func TestStreamableKeepalive(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	init := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
	resp := sendMCP(ctx, t, hc, http.MethodGet, tn.hostURL+"/mcp", nil, sessionHeaders(init.Header.Get("Mcp-Session-Id")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /mcp = %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no heartbeat before the stream ended: %v", err)
		}
		if strings.Contains(line, "ping") {
			return
		}
	}
}

// TestSlowClientsTimeOut: a client that trickles its headers or its body
// is cut off instead of holding a connection and a handler.
func TestSlowClientsTimeOut(t *testing.T) {
	tn := startTailnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slowLogs := &logBuffer{}
	defer func() {
		if t.Failed() {
			t.Log(slowLogs.String())
		}
	}()
	host, err := startHost(ctx, tn.net, "impatient", slowLogs, func(_ *config.Config, o *server.Options) {
		o.HeaderTimeout = 300 * time.Millisecond
		o.BodyTimeout = 300 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	addr := net.JoinHostPort(host.TailnetIP().String(), "80")
	hostName := host.TailnetIP().String()
	// Warm up the path to the new host (the first packets to a peer that
	// just joined can be dropped and retransmitted, seconds later).
	warm := tn.alice.HTTPClient()
	warm.Timeout = 5 * time.Second
	for i := 0; ; i++ {
		resp, err := warm.Get("http://" + hostName + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 5 {
			t.Fatalf("host unreachable: %v", err)
		}
	}
	tests := []struct {
		name string
		// send writes a request that never completes.
		send string
		want string // start of the answer, "" for a closed connection
	}{
		{"headers never finish", "POST /mcp HTTP/1.1\r\nHost: " + hostName + "\r\nContent-Type: application/json\r\n", ""},
		{"body never finishes", "POST /mcp HTTP/1.1\r\nHost: " + hostName + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":", "HTTP/1.1 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tn.alice.Dial(ctx, "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			// Wait far longer than the timeout; the host must have given up.
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("connection still open after the timeout: %v (read %q)", err, got)
			}
			if !strings.HasPrefix(string(got), tt.want) {
				t.Fatalf("answer %q, want it to start with %q", got, tt.want)
			}
		})
	}
}
