package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
)

// The bounds tests' upstream: when stdioServerEnv is "bounds", the test
// binary is a hand-written stdio MCP server that lists what no upstream
// should (megabyte titles with terminal escapes, a URI too long to keep,
// more tools than the host takes) and floods resource updates on demand.
// Hand-written so that each message is written in order on one stream: a
// flood's notifications all precede the call's answer.

// Terminal control sequences an upstream hides in its texts: ESC ] 0 ;
// ... BEL sets a terminal's window title.
const hostileTitle = "\x1b]0;pwned\x07"

var (
	// megaTitle is a 2 MiB title that starts with a terminal escape.
	megaTitle = hostileTitle + strings.Repeat("T", 2<<20)
	// longURI is a resource URI over the default 4KiB bound.
	longURI = "long://" + strings.Repeat("u", 5<<10)
)

// boundsFillers is how many filler tools (t000, t001, …) the server lists
// besides a_title and a_updates.
const boundsFillers = 150

// boundsFloodURI is the resource whose updates a_updates floods.
const boundsFloodURI = "flood://r"

func boundsTools() []map[string]any {
	tools := []map[string]any{
		{"name": "a_title", "title": megaTitle, "description": hostileTitle + strings.Repeat("D", 64<<10),
			"inputSchema": map[string]any{"type": "object"}, "annotations": map[string]any{"title": megaTitle}},
		{"name": "a_updates", "description": "Sends n notifications/resources/updated of " + boundsFloodURI,
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}}},
	}
	for i := range boundsFillers {
		tools = append(tools, map[string]any{"name": fmt.Sprintf("t%03d", i), "title": fmt.Sprintf("Filler \x1b[31m%d\x07", i),
			"inputSchema": map[string]any{"type": "object"}})
	}
	return tools
}

func boundsResources() []map[string]any {
	return []map[string]any{
		{"uri": "ctl://x", "name": "name" + hostileTitle, "title": megaTitle, "description": hostileTitle + strings.Repeat("R", 2<<20)},
		{"uri": longURI, "name": "too long a URI"},
		{"uri": boundsFloodURI, "name": "flooded"},
	}
}

type boundsServer struct {
	mu sync.Mutex // guards writes to w
	w  *bufio.Writer
}

func (s *boundsServer) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Write(append(b, '\n'))
}

func (s *boundsServer) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Flush()
}

func (s *boundsServer) result(id json.RawMessage, result any) {
	s.send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
	s.flush()
}

// runBoundsServer serves MCP on stdin/stdout until stdin ends.
func runBoundsServer() {
	s := &boundsServer{w: bufio.NewWriterSize(os.Stdout, 1<<16)}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id,omitempty"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil || len(m.ID) == 0 {
			continue // notifications need no answer
		}
		switch m.Method {
		case "initialize":
			var p struct {
				ProtocolVersion string `json:"protocolVersion"`
			}
			_ = json.Unmarshal(m.Params, &p)
			s.result(m.ID, map[string]any{
				"protocolVersion": p.ProtocolVersion,
				"capabilities": map[string]any{"tools": map[string]any{}, "prompts": map[string]any{},
					"resources": map[string]any{"subscribe": true}},
				"serverInfo": map[string]any{"name": "bounds", "version": "1"},
			})
		case "tools/list":
			s.result(m.ID, map[string]any{"tools": boundsTools()})
		case "prompts/list":
			s.result(m.ID, map[string]any{"prompts": []map[string]any{
				{"name": "p_title", "title": megaTitle, "description": hostileTitle + "a prompt"},
			}})
		case "resources/list":
			s.result(m.ID, map[string]any{"resources": boundsResources()})
		case "resources/templates/list":
			s.result(m.ID, map[string]any{"resourceTemplates": []map[string]any{
				{"uriTemplate": "tmpl://{id}", "name": "tmpl" + hostileTitle, "title": megaTitle},
			}})
		case "tools/call":
			var p struct {
				Name      string `json:"name"`
				Arguments struct {
					N int `json:"n"`
				} `json:"arguments"`
			}
			_ = json.Unmarshal(m.Params, &p)
			if p.Name != "a_updates" {
				s.result(m.ID, map[string]any{"content": []any{map[string]any{"type": "text", "text": "ok"}}})
				continue
			}
			for range p.Arguments.N {
				s.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/resources/updated",
					"params": map[string]any{"uri": boundsFloodURI}})
			}
			s.result(m.ID, map[string]any{"content": []any{map[string]any{"type": "text", "text": fmt.Sprintf("sent %d", p.Arguments.N)}}})
		default: // resources/subscribe, logging/setLevel, ping, …
			s.result(m.ID, map[string]any{})
		}
	}
}
