package upstream

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The test binary doubles as a small stdio MCP server: TestMain runs
// testServer instead of the tests when testServerEnv is set (the tests put
// it in the upstream's env). It is hand-written, not mcp-go's server, so
// that it can misbehave on purpose and list schemas with keys mcp-go's
// types do not know.
const testServerEnv = "TSMCP_UPSTREAM_TESTSERVER"

// echoSchema has keys a decode into mcp.ToolInputSchema would drop or
// reorder; the bridge must pass it through byte for byte.
const echoSchema = `{"type":"object","$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"text":{"type":"string","x-custom":{"keep":[1,2,3]}}},"required":["text"],"additionalProperties":false,"x-vendor":"kept"}`

const echoOutputSchema = `{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`

// testTools is the server's tools/list, raw.
var testTools = []string{
	`{"name":"echo","title":"Echo tool","description":"Echoes text","inputSchema":` + echoSchema + `,"outputSchema":` + echoOutputSchema + `,"annotations":{"title":"Echo","readOnlyHint":true}}`,
	`{"name":"count","description":"A per-process counter","inputSchema":{"type":"object"}}`,
	`{"name":"env","description":"The caller variables, HOME, working directory and arguments the process sees","inputSchema":{"type":"object"}}`,
	`{"name":"pid","description":"The process ID","inputSchema":{"type":"object"}}`,
	`{"name":"sleep","description":"Sleeps ms milliseconds","inputSchema":{"type":"object","properties":{"ms":{"type":"integer"}}}}`,
	`{"name":"crash","description":"Exits mid-call","inputSchema":{"type":"object"}}`,
	`{"name":"spawn","description":"Starts sleep 300, deaf to SIGTERM, in its process group and returns its pid","inputSchema":{"type":"object"}}`,
	`{"name":"big","description":"Writes a 50 MB line to stdout","inputSchema":{"type":"object"}}`,
	`{"name":"garbage","description":"Writes non-JSON lines to stdout","inputSchema":{"type":"object"}}`,
	`{"name":"flood","description":"Floods stderr","inputSchema":{"type":"object","properties":{"lines":{"type":"integer"}}}}`,
	`{"name":"addtool","description":"Adds the tool extra and sends list_changed","inputSchema":{"type":"object"}}`,
	`{"name":"cancelled","description":"The request IDs cancelled so far","inputSchema":{"type":"object"}}`,
	`{"name":"fail","description":"Returns isError","inputSchema":{"type":"object"}}`,
	`{"name":"rpcerror","description":"Answers with a JSON-RPC error","inputSchema":{"type":"object"}}`,
	`{"name":"args","description":"Returns its raw arguments","inputSchema":{"type":"object"}}`,
	`{"name":"bad name","description":"Not a valid bridged name","inputSchema":{"type":"object"}}`,
	`{"name":"` + strings.Repeat("x", 70) + `","description":"Too long once bridged","inputSchema":{"type":"object"}}`,
	`{"name":"noschema","description":"Lists no inputSchema"}`,
}

const extraTool = `{"name":"extra","description":"Added at run time","inputSchema":{"type":"object"}}`

type testServer struct {
	out       sync.Mutex // guards writes to stdout
	mu        sync.Mutex // guards the fields below
	count     int
	tools     []string
	cancelled []string
	// rootsCap: the client declared roots; rootsChanged counts its
	// notifications/roots/list_changed (roots_test.go).
	rootsCap     bool
	rootsChanged int
}

func (s *testServer) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	s.out.Lock()
	defer s.out.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func (s *testServer) writeRaw(b []byte) {
	s.out.Lock()
	defer s.out.Unlock()
	os.Stdout.Write(b)
}

type rpcMsg struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (s *testServer) result(id json.RawMessage, result any) {
	s.write(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

func text(t string) map[string]any {
	return map[string]any{"content": []any{map[string]any{"type": "text", "text": t}}}
}

// runTestServer serves MCP on stdin/stdout until stdin ends.
func runTestServer() {
	if os.Getenv(testServerEnv) == "exit" {
		fmt.Fprintln(os.Stderr, "test server: exiting at once")
		os.Exit(3)
	}
	if os.Getenv(testServerEnv) == "hang" {
		// Never answers, and ignores stdin EOF: Close must signal it.
		fmt.Fprintln(os.Stderr, "test server: hanging")
		for {
			time.Sleep(time.Hour)
		}
	}
	s := &testServer{tools: append([]string(nil), testTools...)}
	bounds := os.Getenv(testServerEnv) == "bounds"
	if bounds {
		s.tools = boundsTools // bounds_test.go
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m rpcMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch m.Method {
		case "initialize":
			var p struct {
				ProtocolVersion string `json:"protocolVersion"`
				Capabilities    struct {
					Roots json.RawMessage `json:"roots"`
				} `json:"capabilities"`
			}
			_ = json.Unmarshal(m.Params, &p)
			s.mu.Lock()
			s.rootsCap = len(p.Capabilities.Roots) > 0
			s.mu.Unlock()
			caps := map[string]any{"tools": map[string]any{"listChanged": true}}
			if bounds {
				caps["prompts"], caps["resources"] = map[string]any{}, map[string]any{}
			}
			s.result(m.ID, map[string]any{
				"protocolVersion": p.ProtocolVersion,
				"capabilities":    caps,
				"serverInfo":      map[string]any{"name": "testserver", "version": "1"},
			})
		case "ping":
			s.result(m.ID, map[string]any{})
		case "tools/list":
			s.mu.Lock()
			list := "[" + strings.Join(s.tools, ",") + "]"
			s.mu.Unlock()
			s.result(m.ID, map[string]any{"tools": json.RawMessage(list)})
		case "tools/call":
			go s.call(m)
		case "prompts/list", "resources/list", "resources/templates/list":
			s.result(m.ID, boundsLists[m.Method]) // bounds_test.go
		case "notifications/roots/list_changed":
			s.mu.Lock()
			s.rootsChanged++
			s.mu.Unlock()
		case "notifications/cancelled":
			var p struct {
				RequestID json.RawMessage `json:"requestId"`
			}
			_ = json.Unmarshal(m.Params, &p)
			s.mu.Lock()
			s.cancelled = append(s.cancelled, string(p.RequestID))
			s.mu.Unlock()
		default:
			if len(m.ID) > 0 {
				s.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32601, "message": "method not found"}})
			}
		}
	}
}

func (s *testServer) call(m rpcMsg) {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	_ = json.Unmarshal(m.Params, &p)
	var args struct {
		Text  string `json:"text"`
		MS    int    `json:"ms"`
		Lines int    `json:"lines"`
	}
	_ = json.Unmarshal(p.Arguments, &args)
	switch p.Name {
	case "echo":
		r := text(args.Text)
		r["structuredContent"] = map[string]any{"text": args.Text}
		s.result(m.ID, r)
	case "count":
		s.mu.Lock()
		s.count++
		n := s.count
		s.mu.Unlock()
		s.result(m.ID, text(fmt.Sprint(n)))
	case "env":
		cwd, _ := os.Getwd()
		s.mu.Lock()
		roots := fmt.Sprintf("cap=%v changed=%d", s.rootsCap, s.rootsChanged)
		s.mu.Unlock()
		b, _ := json.Marshal(map[string]string{
			"roots":  roots,
			"login":  os.Getenv("TSMCP_CALLER_LOGIN"),
			"node":   os.Getenv("TSMCP_CALLER_NODE"),
			"tags":   os.Getenv("TSMCP_CALLER_TAGS"),
			"secret": os.Getenv("TSMCP_TEST_PARENT_SECRET"),
			"cfg":    os.Getenv("TSMCP_TEST_CFG"),
			"path":   os.Getenv("PATH"),
			"home":   os.Getenv("HOME"),
			"cwd":    cwd,
			"file":   os.Getenv("TSMCP_TEST_FILE"),
			"token":  os.Getenv("TSMCP_TEST_TOKEN"),
			"args":   strings.Join(os.Args[1:], " "),
		})
		s.result(m.ID, text(string(b)))
	case "pid":
		s.result(m.ID, text(fmt.Sprint(os.Getpid())))
	case "sleep":
		fmt.Fprintln(os.Stderr, "sleep start")
		time.Sleep(time.Duration(args.MS) * time.Millisecond)
		s.result(m.ID, text("slept"))
	case "crash":
		os.Exit(7)
	case "spawn":
		// Same process group as the server (no Setsid/Setpgid), never
		// waited for, and ignoring SIGTERM (an ignored signal stays
		// ignored across exec): only the SIGKILL the bridge sends the
		// group once the server has exited ends it, not the SIGTERM
		// stopProcess may send the server on Close.
		cmd := exec.Command("sh", "-c", `trap '' TERM; exec sleep 300`)
		if err := cmd.Start(); err != nil {
			s.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32000, "message": err.Error()}})
			return
		}
		s.result(m.ID, text(fmt.Sprint(cmd.Process.Pid)))
	case "big":
		line := make([]byte, 50<<20)
		for i := range line {
			line[i] = 'x'
		}
		copy(line, `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"`)
		line[len(line)-1] = '\n'
		s.writeRaw(line)
		s.result(m.ID, text("after big"))
	case "garbage":
		s.writeRaw([]byte("this is not JSON\n[1,2,3]\n{\"broken\": \n\n   \nplain text again\n"))
		s.result(m.ID, text("after garbage"))
	case "flood":
		long := strings.Repeat("e", 10<<10)
		w := bufio.NewWriterSize(os.Stderr, 1<<16)
		for i := range args.Lines {
			if i%1000 == 0 {
				fmt.Fprintf(w, "%s\n", long)
			} else {
				fmt.Fprintf(w, "flood line %d\n", i)
			}
		}
		w.Flush()
		s.result(m.ID, text("after flood"))
	case "addtool":
		s.mu.Lock()
		s.tools = append(s.tools, extraTool)
		s.mu.Unlock()
		s.write(map[string]any{"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
		s.result(m.ID, text("added"))
	case "cancelled":
		s.mu.Lock()
		ids := strings.Join(s.cancelled, ",")
		s.mu.Unlock()
		s.result(m.ID, text(ids))
	case "fail":
		r := text("it failed")
		r["isError"] = true
		s.result(m.ID, r)
	case "rpcerror":
		s.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32000, "message": "secret internal detail"}})
	case "args":
		s.result(m.ID, text(string(p.Arguments)))
	case "extra":
		s.result(m.ID, text("extra"))
	default:
		s.write(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32602, "message": "unknown tool"}})
	}
}
