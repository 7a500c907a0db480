package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// hostileUpstreamEnv makes the test binary a stdio MCP server whose
// resource URIs carry terminal escapes (see TestMain).
const hostileUpstreamEnv = "CHECK_TEST_HOSTILE_UPSTREAM"

// hostileURI sets a terminal's window title and rings its bell when
// printed raw.
const hostileURI = "x://a\x1b]0;pwned\x07b"

// runHostileUpstream serves MCP on stdin/stdout until stdin ends: no
// tools, one resource named by hostileURI.
func runHostileUpstream() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id,omitempty"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil || len(m.ID) == 0 {
			continue
		}
		var result any = map[string]any{}
		switch m.Method {
		case "initialize":
			result = map[string]any{"protocolVersion": "2025-06-18", "serverInfo": map[string]any{"name": "hostile", "version": "1"},
				"capabilities": map[string]any{"tools": map[string]any{}, "resources": map[string]any{}}}
		case "tools/list":
			result = map[string]any{"tools": []any{}}
		case "resources/list":
			result = map[string]any{"resources": []any{map[string]any{"uri": hostileURI, "name": "r"}}}
		case "resources/templates/list":
			result = map[string]any{"resourceTemplates": []any{}}
		}
		enc.Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
	}
}

// TestCheckPrintsNoControlCharacters: what `check --probe` prints of an
// upstream's resources reaches the terminal without its escapes.
func TestCheckPrintsNoControlCharacters(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, "tsmcp.yaml", "acl:\n  rules:\n    - src: [\"*\"]\n      resources: [\"*\"]\n"+
		"upstreams:\n  - name: bad\n    command: ["+strconv.Quote(self)+"]\n    env: {"+hostileUpstreamEnv+": \"1\"}\n")
	for _, args := range [][]string{{"--as", "bob@example.com"}, nil} {
		out, _, err := runCmd(t, append([]string{"check", "--config", f, "--probe"}, args...)...)
		if err != nil {
			t.Fatalf("check --probe %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(out, "bad+x://a\ufffd]0;pwned\ufffdb") {
			t.Errorf("check --probe %v does not show the resource, its controls replaced:\n%q", args, out)
		}
		if i := strings.IndexFunc(out, func(r rune) bool { return (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) }); i >= 0 {
			t.Errorf("check --probe %v printed a control character: %q", args, out[max(i-20, 0):min(i+20, len(out))])
		}
	}
}
