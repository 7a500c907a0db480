package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode"
)

// TestCallerNamesAreBoundedInAuditAndErrors calls tools with names no tool
// can have, over the tailnet: a 3 MiB name, and one made of control,
// escape and bidirectional characters around "whoami". Each is answered
// "not found" without echoing the name, nothing runs, and its audit line
// carries the name cut to a small bound with every unsafe character shown
// as U+FFFD.
func TestCallerNamesAreBoundedInAuditAndErrors(t *testing.T) {
	tn := startTailnet(t)
	alice := tn.callers()[0]
	hc := alice.httpClient()
	init := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(initializeBody), nil)
	sid := init.Header.Get("Mcp-Session-Id")
	if init.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: status %d, session %q", init.StatusCode, sid)
	}
	huge := strings.Repeat("A", 3<<20)
	tests := []struct {
		name     string
		tool     string
		wantTool string // the audit line's tool field, exactly
	}{
		{"3 MiB name", huge, strings.Repeat("A", 128) + "…[3145728 bytes]"},
		{"control and bidi characters", "who\x00ami\n{\"msg\":\"forged\"}\x1b[31m\u202e\u200b",
			"who\ufffdami\ufffd{\"msg\":\"forged\"}\ufffd[31m\ufffd\ufffd"},
		{"invalid UTF-8", "who\xffami", "who\ufffdami"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tn.logs.JSONLines("tool_call"))
			arg, _ := json.Marshal(tt.tool)
			body := `{"jsonrpc":"2.0","id":` + string(rune('2'+i)) + `,"method":"tools/call","params":{"name":` + string(arg) + `,"arguments":{}}}`
			resp := postMCP(t, hc, tn.hostURL+"/mcp", strings.NewReader(body), sessionHeaders(sid))
			res := readJSONRPC(t, resp)
			e, _ := res["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if e == nil || res["result"] != nil || !strings.Contains(msg, "not found") {
				t.Fatalf("response %.300v, want a not-found error", res)
			}
			if len(msg) > 256 || strings.Contains(msg, "AAAA") || strings.Contains(msg, "ami") {
				t.Fatalf("the error echoes the name (%d bytes): %.300q", len(msg), msg)
			}
			lines := tn.logs.JSONLines("tool_call")
			var got []string
			for _, l := range lines[before:] {
				if tool, _ := l["tool"].(string); l["decision"] == "deny" && !strings.HasPrefix(tool, "whoami") {
					got = append(got, tool)
				}
			}
			if len(got) != 1 || got[0] != tt.wantTool {
				t.Fatalf("audit tool fields %.400q, want exactly [%q]", got, tt.wantTool)
			}
			for _, r := range got[0] {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Fatalf("audit tool field %q has the unsafe character %U", got[0], r)
				}
			}
		})
	}
	// No log line carries the huge name.
	for _, line := range strings.Split(tn.logs.String(), "\n") {
		if len(line) > 64<<10 {
			t.Fatalf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}
}
