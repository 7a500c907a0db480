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
	t.Run("session-era call in its session with a 2026-07-28 header", func(t *testing.T) {
		init := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
		sid := init.Header.Get("Mcp-Session-Id")
		if init.StatusCode != http.StatusOK || sid == "" {
			t.Fatalf("initialize: status %d, session %q", init.StatusCode, sid)
		}
		hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2026-07-28"}
		call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
		resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(call), hdr)
		res := readJSONRPC(t, resp)
		if resp.StatusCode != http.StatusOK || res["result"] == nil {
			t.Fatalf("status %d, response %v", resp.StatusCode, res)
		}
	})
}

// TestStatelessVersionErrors: the 2026-07-28 errors of the versioning and
// Streamable HTTP pages, as the official conformance suite's
// server-stateless scenario checks them. Each is 400 with a JSON-RPC
// error carrying the request's id: a request whose header names 2026-07-28
// but whose body has no _meta, or no protocol version in it, is -32602
// (Invalid params); a header that disagrees with the body's version is
// -32020 (HeaderMismatch); a version the host does not serve is -32022
// (UnsupportedProtocolVersionError) naming the versions server/discover
// lists and echoing the one asked for. The leniencies of
// TestMismatchedVersionHeaders stay.
func TestStatelessVersionErrors(t *testing.T) {
	tn := startTailnet(t)
	hc := tn.callers()[0].httpClient()
	meta := func(version string) string {
		m := `"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}`
		if version != "" {
			m = fmt.Sprintf(`"io.modelcontextprotocol/protocolVersion":%q,`, version) + m
		}
		return `"_meta":{` + m + `}`
	}
	discover := func(id int, params string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"server/discover","params":{%s}}`, id, params)
	}
	supported := []any{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"}
	tests := []struct {
		name      string
		header    string
		body      string
		id        float64
		code      float64
		supported []any // the error's data.supported, when set
		requested string
	}{
		{name: "no _meta", header: "2026-07-28", body: discover(101, ""), id: 101, code: -32602},
		{name: "no protocol version in _meta", header: "2026-07-28", body: discover(102, meta("")), id: 102, code: -32602},
		{name: "header disagrees with _meta", header: "2026-07-28", body: discover(302, meta("v999.0.0")), id: 302, code: -32020},
		{name: "unsupported version", header: "v999.0.0", body: discover(301, meta("v999.0.0")), id: 301, code: -32022,
			supported: supported, requested: "v999.0.0"},
		{name: "unsupported dated version", header: "2099-01-01", body: discover(303, meta("2099-01-01")), id: 303, code: -32022,
			supported: supported, requested: "2099-01-01"},
		{name: "unsupported header, session-era body", header: "1999-01-01", body: `{"jsonrpc":"2.0","id":304,"method":"tools/list"}`, id: 304, code: -32022,
			supported: supported, requested: "1999-01-01"},
		{name: "unsupported header disagrees with _meta", header: "v999.0.0", body: discover(305, meta("2026-07-28")), id: 305, code: -32020},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Mcp-Protocol-Version": tt.header, "Mcp-Method": "server/discover"}
			resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(tt.body), hdr)
			res := readJSONRPC(t, resp)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			e, _ := res["error"].(map[string]any)
			if e["code"] != tt.code || res["id"] != tt.id {
				t.Fatalf("response %v, want error code %v for id %v", res, tt.code, tt.id)
			}
			if tt.supported == nil {
				return
			}
			data, _ := e["data"].(map[string]any)
			if fmt.Sprint(data["supported"]) != fmt.Sprint(tt.supported) || data["requested"] != tt.requested {
				t.Fatalf("error data %v, want supported %v and requested %q", data, tt.supported, tt.requested)
			}
		})
	}
	t.Run("repeated header", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, tn.hostURL+"/mcp", strings.NewReader(discover(306, meta("2026-07-28"))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Method", "server/discover")
		req.Header.Add("Mcp-Protocol-Version", "2026-07-28")
		req.Header.Add("Mcp-Protocol-Version", "2026-07-28")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		res := readJSONRPC(t, resp)
		if e, _ := res["error"].(map[string]any); resp.StatusCode != http.StatusBadRequest || e["code"] != -32020.0 || res["id"] != 306.0 {
			t.Fatalf("status %d, response %v, want 400 and error -32020 for id 306", resp.StatusCode, res)
		}
	})
	t.Run("server/discover lists the same versions", func(t *testing.T) {
		hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
		res := readJSONRPC(t, postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(discover(1, meta("2026-07-28"))), hdr))
		r, _ := res["result"].(map[string]any)
		if fmt.Sprint(r["supportedVersions"]) != fmt.Sprint(supported) {
			t.Fatalf("server/discover: %v, want supportedVersions %v", res, supported)
		}
	})
}
