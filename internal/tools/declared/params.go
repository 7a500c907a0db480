package declared

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tsmcp/tsmcp/internal/config"
)

// Param types, as in JSON Schema.
const (
	typeString  = "string"
	typeNumber  = "number"
	typeInteger = "integer"
	typeBoolean = "boolean"
)

// param is one compiled tool parameter.
type param struct {
	name      string
	typ       string
	desc      string
	required  bool
	pattern   *regexp.Regexp // nil = any value
	enum      []string       // nil = any value
	allowDash bool
	// noNegative refuses negative numbers: in an exec tool a value
	// "-5" could be read as an option, and only strings can allow that.
	noNegative bool
}

// value is one validated argument.
type value struct {
	typ string
	// text is the value as it appears in an argv element, a URL or a
	// header: the string itself, a number in Go's shortest form
	// ("1.5", "1e+21", "42") or "true"/"false".
	text string
}

// json returns the value as a JSON value: a quoted, escaped string, or
// a bare number or boolean.
func (v value) json() string {
	if v.typ != typeString {
		return v.text
	}
	b, _ := json.Marshal(v.text) // marshalling a string cannot fail
	return string(b)
}

// argError is a problem with the caller's arguments, reported to the
// caller as a tool error. Its text names the param, never its value.
type argError struct {
	param string // empty when the arguments as a whole are wrong
	msg   string
}

func (e *argError) Error() string {
	if e.param == "" {
		return "invalid arguments: " + e.msg
	}
	return fmt.Sprintf("invalid argument %q: %s", e.param, e.msg)
}

// compileParams compiles a tool's params; key is e.g. "tools[3].params".
// exec tools refuse negative numbers.
func compileParams(key string, ps map[string]config.Param, exec bool) (map[string]*param, error) {
	out := make(map[string]*param, len(ps))
	for name, p := range ps {
		cp := &param{
			name:       name,
			typ:        p.Type,
			desc:       p.Description,
			required:   p.Required,
			enum:       p.Enum,
			allowDash:  p.AllowLeadingDash,
			noNegative: exec,
		}
		if cp.typ == "" {
			cp.typ = typeString
		}
		switch cp.typ {
		case typeString, typeNumber, typeInteger, typeBoolean:
		default:
			return nil, fmt.Errorf("%s.%s.type: %q is not one of string, number, integer, boolean", key, name, p.Type)
		}
		if p.Pattern != "" {
			re, err := regexp.Compile(p.Pattern)
			if err != nil {
				return nil, fmt.Errorf("%s.%s.pattern: %v", key, name, err)
			}
			cp.pattern = re
		}
		out[name] = cp
	}
	return out, nil
}

// inputSchema returns the JSON Schema of the tool's arguments: an object
// with one property per param, the required ones listed, nothing else
// allowed.
func inputSchema(params map[string]*param) (json.RawMessage, error) {
	props := make(map[string]any, len(params))
	required := []string{}
	for name, p := range params {
		prop := map[string]any{"type": p.typ}
		if p.desc != "" {
			prop["description"] = p.desc
		}
		if len(p.enum) > 0 {
			prop["enum"] = p.enum
		}
		if p.pattern != nil {
			prop["pattern"] = p.pattern.String()
		}
		if p.noNegative && (p.typ == typeNumber || p.typ == typeInteger) {
			prop["minimum"] = 0
		}
		props[name] = prop
		if p.required {
			required = append(required, name)
		}
	}
	slices.Sort(required)
	schema := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		schema["required"] = required
	}
	return json.Marshal(schema)
}

// arguments returns the call's arguments as a map, numbers as
// json.Number so that integers keep their precision. Arguments that are
// not a JSON object are an argError.
func arguments(req mcp.CallToolRequest) (map[string]any, error) {
	if raw := bytes.TrimSpace(req.Params.RawArguments); len(raw) > 0 {
		if string(raw) == "null" {
			return nil, nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, &argError{msg: "arguments must be a JSON object"}
		}
		return m, nil
	}
	switch a := req.Params.Arguments.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return a, nil
	case json.RawMessage:
		return arguments(mcp.CallToolRequest{Params: mcp.CallToolParams{RawArguments: a}})
	default:
		return nil, &argError{msg: "arguments must be a JSON object"}
	}
}

// validate checks args against params and returns the validated values
// of the arguments present. Every problem is an *argError naming the
// param; values never appear in errors.
func validate(params map[string]*param, args map[string]any) (map[string]value, error) {
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if _, ok := params[name]; !ok {
			return nil, &argError{param: name, msg: "unknown argument"}
		}
	}
	vals := make(map[string]value, len(args))
	for _, name := range slices.Sorted(maps.Keys(params)) {
		p := params[name]
		raw, ok := args[name]
		if !ok || raw == nil {
			// An explicit null counts as absent.
			if p.required {
				return nil, &argError{param: name, msg: "required"}
			}
			continue
		}
		v, err := p.check(raw)
		if err != nil {
			return nil, err
		}
		vals[name] = v
	}
	return vals, nil
}

// check validates one present argument.
func (p *param) check(raw any) (value, error) {
	bad := func(format string, args ...any) (value, error) {
		return value{}, &argError{param: p.name, msg: fmt.Sprintf(format, args...)}
	}
	switch p.typ {
	case typeString:
		s, ok := raw.(string)
		if !ok {
			return bad("must be a string, got %s", jsonType(raw))
		}
		if strings.IndexByte(s, 0) >= 0 {
			return bad("must not contain NUL bytes")
		}
		if strings.HasPrefix(s, "-") && !p.allowDash {
			return bad("must not start with '-'")
		}
		if len(p.enum) > 0 && !slices.Contains(p.enum, s) {
			return bad("must be one of %s", quoteAll(p.enum))
		}
		if p.pattern != nil && !p.pattern.MatchString(s) {
			return bad("must match the pattern %s", p.pattern)
		}
		return value{typ: typeString, text: s}, nil
	case typeBoolean:
		b, ok := raw.(bool)
		if !ok {
			return bad("must be a boolean, got %s", jsonType(raw))
		}
		return value{typ: typeBoolean, text: strconv.FormatBool(b)}, nil
	case typeNumber, typeInteger:
		f, text, ok := number(raw)
		if !ok {
			if p.typ == typeInteger {
				return bad("must be an integer, got %s", jsonType(raw))
			}
			return bad("must be a number, got %s", jsonType(raw))
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return bad("is out of range")
		}
		if p.typ == typeInteger {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				text = strconv.FormatInt(i, 10)
			} else if f != math.Trunc(f) {
				return bad("must be an integer, got a fractional number")
			} else if f < -(1<<63) || f >= 1<<63 {
				return bad("is out of range (64-bit integers)")
			} else {
				text = strconv.FormatInt(int64(f), 10)
			}
		} else {
			if f == 0 {
				f = 0 // no "-0"
			}
			text = strconv.FormatFloat(f, 'g', -1, 64)
		}
		if p.noNegative && strings.HasPrefix(text, "-") {
			return bad("must not be negative")
		}
		return value{typ: p.typ, text: text}, nil
	}
	return bad("has an unsupported type")
}

// number returns raw as a float64 and its decimal text when raw is a
// JSON number (json.Number or a Go numeric type).
func number(raw any) (float64, string, bool) {
	switch n := raw.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !isRangeErr(err) {
			return 0, "", false
		}
		return f, string(n), true
	case float64:
		return n, strconv.FormatFloat(n, 'g', -1, 64), true
	case float32:
		return float64(n), strconv.FormatFloat(float64(n), 'g', -1, 32), true
	case int:
		return float64(n), strconv.Itoa(n), true
	case int32:
		return float64(n), strconv.FormatInt(int64(n), 10), true
	case int64:
		return float64(n), strconv.FormatInt(n, 10), true
	case uint64:
		return float64(n), strconv.FormatUint(n, 10), true
	}
	return 0, "", false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// jsonType names raw's JSON type for error messages.
func jsonType(raw any) string {
	switch raw.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, float32, int, int32, int64, uint64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return "an unsupported value"
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
