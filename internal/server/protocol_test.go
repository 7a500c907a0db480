package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// readJSONRPC decodes a JSON-RPC response sent either as JSON or as one SSE
// event.
func readJSONRPC(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(body, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				body = d
				break
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, b, err)
	}
	return m
}

// TestDatedProtocolVersions drives the session-based Streamable HTTP
// protocols by hand: initialize, then tools/call whoami in the session.
// (The Go clients in clients_test.go negotiate the stateless 2026-07-28
// protocol.)
func TestDatedProtocolVersions(t *testing.T) {
	tn := startTailnet(t)
	c := tn.callers()[1] // bob
	hc := c.httpClient()
	for _, version := range []string{"2025-03-26", "2025-06-18", "2025-11-25"} {
		t.Run(version, func(t *testing.T) {
			init := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, version)
			resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(init), nil)
			res := readJSONRPC(t, resp)
			got, _ := res["result"].(map[string]any)["protocolVersion"].(string)
			if got != version {
				t.Fatalf("negotiated %q, want %q (response %v)", got, version, res)
			}
			sid := resp.Header.Get("Mcp-Session-Id")
			hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": version}
			postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), hdr)
			call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
			res = readJSONRPC(t, postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(call), hdr))
			sc, _ := res["result"].(map[string]any)["structuredContent"].(map[string]any)
			if sc["login"] != c.login {
				t.Fatalf("whoami login = %v, want %s (response %v)", sc["login"], c.login, res)
			}
		})
	}
}

// TestMismatchedVersionHeaders: clients that send a protocol version
// header disagreeing with their body still connect.
func TestMismatchedVersionHeaders(t *testing.T) {
	tn := startTailnet(t)
	c := tn.callers()[0]
	hc := c.httpClient()
	modernMeta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
	tests := []struct {
		name   string
		header string
		body   string
		hdr    map[string]string
	}{
		{
			name:   "session-era initialize with a 2026-07-28 header",
			header: "2026-07-28",
			body:   initializeBody,
		},
		{
			name:   "stateless call with an older header",
			header: "2025-11-25",
			body:   `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{},` + modernMeta + `}}`,
			hdr:    map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "whoami"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Mcp-Protocol-Version": tt.header}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(tt.body), hdr)
			res := readJSONRPC(t, resp)
			if resp.StatusCode != http.StatusOK || res["error"] != nil {
				t.Fatalf("status %d, response %v", resp.StatusCode, res)
			}
		})
	}
}
