package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// openLegacySession opens a session-era (2025-11-25) Streamable HTTP
// session as alice through the Service name, checks it works, and returns
// a check to run once the Service has moved to another replica: the
// session continues there for alice, and bob presenting its ID gets 404
// (as for an unknown session; the replica audits a session_hijack).
//
// The replicas share mcp.session_key, so the session's ID verifies on
// either. The check closes alice's idle connections first: one kept alive
// to the drained replica would break once the route has moved (see
// docs/replicas.md, "Drain"); real clients re-dial.
func openLegacySession(ctx context.Context, t *testing.T, rs *replicaSet) (checkOnOtherReplica func()) {
	t.Helper()
	const version = "2025-11-25"
	url := testServiceURL + "/mcp"
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	resp := sendMCP(ctx, t, rs.aliceHC, http.MethodPost, url, strings.NewReader(init), nil)
	if got, _ := readJSONRPC(t, resp)["result"].(map[string]any)["protocolVersion"].(string); got != version {
		t.Fatalf("negotiated %q, want %s", got, version)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("no Mcp-Session-Id")
	}
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": version}
	sendMCP(ctx, t, rs.aliceHC, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), hdr)
	whoami := func(id string) string {
		call := `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
		res := readJSONRPC(t, sendMCP(ctx, t, rs.aliceHC, http.MethodPost, url, strings.NewReader(call), hdr))
		sc, _ := res["result"].(map[string]any)["structuredContent"].(map[string]any)
		login, _ := sc["login"].(string)
		return login
	}
	if got := whoami("2"); got != rs.alice.login {
		t.Fatalf("whoami in the session on the first replica = %q, want %s", got, rs.alice.login)
	}
	return func() {
		t.Helper()
		rs.aliceHC.CloseIdleConnections()
		if got := whoami("3"); got != rs.alice.login {
			t.Fatalf("whoami in the session on the other replica = %q, want %s", got, rs.alice.login)
		}
		if !strings.Contains(rs.logsB.String(), "adopted a session minted by another host") {
			t.Fatal("replica B answered without adopting A's session")
		}
		call := `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
		resp := sendMCP(ctx, t, rs.bob.httpClient(), http.MethodPost, url, strings.NewReader(call), hdr)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob presenting alice's session ID on the other replica: status %d, want 404", resp.StatusCode)
		}
	}
}
