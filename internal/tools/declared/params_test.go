package declared

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
)

func validationParams() map[string]config.Param {
	return map[string]config.Param{
		"path": {Type: "string", Description: "a path", Required: true, Pattern: "^[a-z/]+$"},
		"mode": {Enum: []string{"fast", "slow"}},
		"n":    {Type: "integer"},
		"f":    {Type: "number"},
		"b":    {Type: "boolean"},
		"flag": {Type: "string", AllowLeadingDash: true},
	}
}

func TestSchema(t *testing.T) {
	p, _ := newProvider(t, []config.Tool{
		argvTool("exec_tool", []string{"{{.path}}"}, validationParams()),
		{Name: "http_tool", Description: "calls", HTTP: &config.HTTPTool{Method: "GET", URL: "http://api.test/{{.id}}"},
			Params: map[string]config.Param{"id": {Type: "integer", Required: true}}},
		{Name: "no_params", HTTP: &config.HTTPTool{Method: "DELETE", URL: "http://api.test/x"}},
	}, Options{})
	if p.Name() != "tools" {
		t.Errorf("Name() = %q", p.Name())
	}
	ts, err := p.Tools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		schema      string
		annotations string
	}{
		{"exec_tool", `{"type":"object","additionalProperties":false,"required":["path"],"properties":{
			"path":{"type":"string","description":"a path","pattern":"^[a-z/]+$"},
			"mode":{"type":"string","enum":["fast","slow"]},
			"n":{"type":"integer","minimum":0},
			"f":{"type":"number","minimum":0},
			"b":{"type":"boolean"},
			"flag":{"type":"string"}}}`,
			`{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":true}`},
		{"http_tool", `{"type":"object","additionalProperties":false,"required":["id"],"properties":{"id":{"type":"integer"}}}`,
			`{"readOnlyHint":true,"destructiveHint":false,"idempotentHint":true,"openWorldHint":true}`},
		{"no_params", `{"type":"object","additionalProperties":false,"properties":{}}`,
			`{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":true,"openWorldHint":true}`},
	}
	if len(ts) != len(tests) {
		t.Fatalf("%d tools, want %d", len(ts), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What clients receive: the tool as marshalled on tools/list.
			b, err := json.Marshal(ts[i].Tool)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Name        string         `json:"name"`
				InputSchema map[string]any `json:"inputSchema"`
				Annotations map[string]any `json:"annotations"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.name {
				t.Fatalf("tool %d is %q, want %q", i, got.Name, tt.name)
			}
			assertJSONEqual(t, "inputSchema", got.InputSchema, tt.schema)
			assertJSONEqual(t, "annotations", got.Annotations, tt.annotations)
		})
	}
}

func assertJSONEqual(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	gb, _ := json.Marshal(got)
	var g any
	_ = json.Unmarshal(gb, &g)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s\nwant %s", what, gb, want)
	}
}

func TestValidation(t *testing.T) {
	p, _ := newProvider(t, []config.Tool{
		argvTool("v", []string{"{{.path}}", "{{.mode}}", "{{.n}}", "{{.f}}", "{{.b}}", "{{.flag}}"}, validationParams()),
	}, Options{})
	tests := []struct {
		name string
		args string
		want string // error text; "" = success
		argv []string
	}{
		{"required only", `{"path":"a/b"}`, "", []string{"a/b"}},
		{"all", `{"path":"a","mode":"slow","n":42,"f":1.5,"b":true,"flag":"-x"}`, "", []string{"a", "slow", "42", "1.5", "true", "-x"}},
		{"integral float is an integer", `{"path":"a","n":3.0}`, "", []string{"a", "3"}},
		{"exponent integer", `{"path":"a","n":1e3}`, "", []string{"a", "1000"}},
		{"big integer keeps precision", `{"path":"a","n":9007199254740993}`, "", []string{"a", "9007199254740993"}},
		{"number exponent", `{"path":"a","f":2.5e-3}`, "", []string{"a", "0.0025"}},
		{"negative zero is zero", `{"path":"a","f":-0.0}`, "", []string{"a", "0"}},
		{"null is absent", `{"path":"a","mode":null}`, "", []string{"a"}},
		{"no arguments object", ``, `invalid argument "path": required`, nil},
		{"null arguments", `null`, `invalid argument "path": required`, nil},
		{"missing required", `{}`, `invalid argument "path": required`, nil},
		{"required null", `{"path":null}`, `invalid argument "path": required`, nil},
		{"unknown argument", `{"path":"a","zzz":1}`, `invalid argument "zzz": unknown argument`, nil},
		{"arguments not an object", `[1,2]`, `invalid arguments: arguments must be a JSON object`, nil},
		{"string gets number", `{"path":1}`, `invalid argument "path": must be a string, got a number`, nil},
		{"string gets array", `{"path":["a"]}`, `invalid argument "path": must be a string, got an array`, nil},
		{"string gets object", `{"path":{"a":1}}`, `invalid argument "path": must be a string, got an object`, nil},
		{"integer gets string", `{"path":"a","n":"1"}`, `invalid argument "n": must be an integer, got a string`, nil},
		{"integer gets fraction", `{"path":"a","n":1.5}`, `invalid argument "n": must be an integer, got a fractional number`, nil},
		{"integer out of range", `{"path":"a","n":1e30}`, `invalid argument "n": is out of range (64-bit integers)`, nil},
		{"integer overflows float", `{"path":"a","n":1e400}`, `invalid argument "n": is out of range`, nil},
		{"exec integer negative", `{"path":"a","n":-1}`, `invalid argument "n": must not be negative`, nil},
		{"exec number negative", `{"path":"a","f":-0.5}`, `invalid argument "f": must not be negative`, nil},
		{"number gets bool", `{"path":"a","f":true}`, `invalid argument "f": must be a number, got a boolean`, nil},
		{"boolean gets string", `{"path":"a","b":"true"}`, `invalid argument "b": must be a boolean, got a string`, nil},
		{"enum", `{"path":"a","mode":"medium"}`, `invalid argument "mode": must be one of "fast", "slow"`, nil},
		{"pattern", `{"path":"ABC"}`, `invalid argument "path": must match the pattern ^[a-z/]+$`, nil},
		{"leading dash", `{"path":"-rf"}`, `invalid argument "path": must not start with '-'`, nil},
		{"leading dash in enum param", `{"path":"a","mode":"--fast"}`, `invalid argument "mode": must not start with '-'`, nil},
		{"NUL", `{"path":"a\u0000b"}`, `invalid argument "path": must not contain NUL bytes`, nil},
		{"NUL in dash-allowed param", `{"path":"a","flag":"-\u0000"}`, `invalid argument "flag": must not contain NUL bytes`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := callRaw(t, context.Background(), p, "v", tt.args)
			if tt.want != "" {
				got := mustFail(t, res, tt.want)
				if got != tt.want {
					t.Errorf("error = %q, want exactly %q", got, tt.want)
				}
				return
			}
			if argv := parseArgv(t, mustOK(t, res)); !reflect.DeepEqual(argv, tt.argv) {
				t.Errorf("argv = %q, want %q", argv, tt.argv)
			}
		})
	}
}

// TestValidationErrorsOmitValues: a refused value never appears in the
// error or the log.
func TestValidationErrorsOmitValues(t *testing.T) {
	p, logs := newProvider(t, []config.Tool{
		argvTool("v", []string{"{{.path}}"}, validationParams()),
	}, Options{})
	for _, args := range []string{
		`{"path":"SECRETVALUE"}`,
		`{"path":"-SECRETVALUE"}`,
		`{"path":"a","mode":"SECRETVALUE"}`,
		`{"path":"a","n":"SECRETVALUE"}`,
	} {
		res := callRaw(t, context.Background(), p, "v", args)
		if !res.IsError || strings.Contains(text(res), "SECRETVALUE") {
			t.Errorf("%s: result %q", args, text(res))
		}
	}
	if strings.Contains(logs.String(), "SECRETVALUE") {
		t.Errorf("log holds an argument value: %s", logs)
	}
}

// TestArgumentsAsMap: in-process callers may pass a Go map instead of
// raw JSON.
func TestArgumentsAsMap(t *testing.T) {
	p, _ := newProvider(t, []config.Tool{
		argvTool("v", []string{"{{.path}}", "{{.n}}", "{{.f}}"}, validationParams()),
	}, Options{})
	ts, _ := p.Tools(context.Background())
	req := mcp.CallToolRequest{}
	req.Params.Name = "v"
	req.Params.Arguments = map[string]any{"path": "a", "n": 7, "f": float64(0.25)}
	res, err := ts[0].Handler(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseArgv(t, mustOK(t, res)); !reflect.DeepEqual(got, []string{"a", "7", "0.25"}) {
		t.Errorf("argv %q", got)
	}
}
