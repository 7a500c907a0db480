package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestSpecStatusCodes drives /mcp over the tailnet with requests mcp-go
// alone answers against the Streamable HTTP spec: a protocol version the
// host does not serve is 400 whatever the method; a session-era request
// without a session is 400 (not 404, not a new stream, not 200); DELETE of
// an unknown session is 404. What a stateless client sends still works.
func TestSpecStatusCodes(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0].httpClient()
	url := tn.hostURL + "/mcp"
	init := postMCP(t, alice, url, strings.NewReader(initializeBody), nil)
	sid := init.Header.Get("Mcp-Session-Id")
	if init.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", init.StatusCode, sid)
	}
	const (
		list        = `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`
		initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
		modernMeta  = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`
		modernList  = `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{` + modernMeta + `}}`
	)
	v := func(version string) map[string]string { return map[string]string{"Mcp-Protocol-Version": version} }
	inSession := func(version string) map[string]string {
		return map[string]string{"Mcp-Protocol-Version": version, "Mcp-Session-Id": sid}
	}
	modern := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
	tests := []struct {
		name   string
		method string
		body   string
		hdr    map[string]string
		want   int
	}{
		{"garbage version on initialize", "POST", initializeBody, v("garbage"), 400},
		{"future version on initialize", "POST", initializeBody, v("2099-01-01"), 400},
		{"garbage version in a session", "POST", list, inSession("zzz"), 400},
		{"future version in a session", "POST", list, inSession("2099-01-01"), 400},
		{"unknown past version in a session", "POST", list, inSession("2024-01-01"), 400},
		{"garbage version on GET", "GET", "", inSession("zzz"), 400},
		{"garbage version on DELETE", "DELETE", "", inSession("zzz"), 400},
		{"garbage version, stateless body", "POST", modernList, map[string]string{"Mcp-Protocol-Version": "zzz", "Mcp-Method": "tools/list"}, 400},
		{"POST request without a session", "POST", list, v("2025-06-18"), 400},
		{"POST request without a session or version", "POST", list, nil, 400},
		{"POST notification without a session", "POST", initialized, v("2025-06-18"), 400},
		{"GET without a session", "GET", "", v("2025-06-18"), 400},
		{"GET without a session or version", "GET", "", nil, 400},
		{"DELETE without a session", "DELETE", "", v("2025-06-18"), 400},
		{"DELETE of an unknown session", "DELETE", "", sessionHeaders("0123456789abcdef0123456789abcdef"), 404},
		{"POST with an unknown session", "POST", list, sessionHeaders("0123456789abcdef0123456789abcdef"), 404},
		{"supported version in the session", "POST", list, inSession("2025-06-18"), 200},
		{"no version header in the session (2025-03-26)", "POST", list, map[string]string{"Mcp-Session-Id": sid}, 200},
		{"stateless request", "POST", modernList, modern, 200},
		{"stateless GET is 405, as the 2026-07-28 spec says", "GET", "", v("2026-07-28"), 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := sendMCP(context.Background(), t, alice, tt.method, url, strings.NewReader(tt.body), tt.hdr)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s: status %d, want %d", tt.method, resp.StatusCode, tt.want)
			}
		})
	}
	t.Run("DELETE ends the session, once", func(t *testing.T) {
		for i, want := range []int{200, 404} {
			resp := sendMCP(context.Background(), t, alice, "DELETE", url, strings.NewReader(""), sessionHeaders(sid))
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("DELETE #%d: status %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})
}
