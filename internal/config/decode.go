package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// decodeHook converts the values viper collects (file values, environment
// strings, flag values) into Config's types. The order matters: raw
// sections are unwrapped first, JSON strings decoded before comma
// splitting, and the shape check comes last.
var decodeHook = mapstructure.ComposeDecodeHookFunc(
	unwrapRawHook,
	jsonStringHook,
	upstreamTimeoutHook,
	durationHook,
	byteSizeHook,
	commaSliceHook,
	shapeHook,
)

func unwrapRawHook(_, _ reflect.Type, data any) (any, error) {
	if r, ok := data.(rawValue); ok {
		return r.v, nil
	}
	return data, nil
}

// structured reports whether t (a map, or a list of mappings or lists) is
// only given in the environment as JSON. Structs are not: no environment
// variable holds a whole section.
func structured(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map:
		return true
	case reflect.Slice:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		return e.Kind() == reflect.Struct || e.Kind() == reflect.Map || e.Kind() == reflect.Slice
	}
	return false
}

// jsonStringHook decodes a string holding JSON for a structured key
// (TSMCP_ACL_RULES='[{"src":["*"],"tools":["whoami"]}]') and a string
// holding a JSON array for a list of scalars (TSMCP_TAILNET_TAGS='["tag:a"]').
// Map keys keep their case. The string itself is never quoted in errors:
// it may hold secrets.
func jsonStringHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(reflect.ValueOf(data).String())
	isList := to.Kind() == reflect.Slice
	switch {
	case structured(to):
	case isList && strings.HasPrefix(s, "["):
	default:
		return data, nil
	}
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		want := "mapping"
		if isList {
			want = "list"
		}
		return nil, fmt.Errorf("expected a %s, got a string that is not a JSON %s (%v)", want, want, err)
	}
	return out, nil
}

var upstreamType = reflect.TypeFor[Upstream]()

// upstreamTimeoutHook gives an upstream without a timeout key
// DefaultUpstreamTimeout, so that an explicit `timeout: 0` (no limit) can
// be told from an absent key once decoded. Keys are matched as mapstructure
// matches them: case-insensitively.
func upstreamTimeoutHook(_, to reflect.Type, data any) (any, error) {
	if to != upstreamType {
		return data, nil
	}
	m, ok := data.(map[string]any)
	if !ok {
		return data, nil
	}
	for k := range m {
		if strings.EqualFold(k, "timeout") {
			return data, nil
		}
	}
	out := make(map[string]any, len(m)+1)
	maps.Copy(out, m)
	out["timeout"] = DefaultUpstreamTimeout
	return out, nil
}

func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch from.Kind() {
	case reflect.String:
		d, err := time.ParseDuration(strings.TrimSpace(v.String()))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (e.g. 20s, 1m30s)", v.String())
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if v.IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is not a duration: add a unit (e.g. \"%vs\")", data, data)
	}
	return data, nil
}

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType || from == byteSizeType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	switch from.Kind() {
	case reflect.String:
		return parseByteSize(v.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ByteSize(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("%v is too large", data)
		}
		return ByteSize(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return nil, fmt.Errorf("%v is not a whole number of bytes", data)
		}
		return ByteSize(f), nil
	}
	return data, nil
}

// commaSliceHook splits a string into a list of scalars at commas,
// trimming spaces and dropping empty items: "tag:a, tag:b" is
// [tag:a tag:b].
func commaSliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() == reflect.Uint8 {
		return data, nil
	}
	out := []string{}
	for item := range strings.SplitSeq(reflect.ValueOf(data).String(), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// shapeHook reports lists given for mappings and the reverse before
// mapstructure does, with plainer words.
func shapeHook(from, to reflect.Type, data any) (any, error) {
	for to.Kind() == reflect.Pointer {
		to = to.Elem()
	}
	fromMap := from.Kind() == reflect.Map || from.Kind() == reflect.Struct
	switch {
	case (to.Kind() == reflect.Struct && to != durationType) || to.Kind() == reflect.Map:
		if !fromMap {
			return nil, fmt.Errorf("expected a mapping (key: value), got %s", describeValue(data))
		}
	case to.Kind() == reflect.Slice:
		if fromMap {
			return nil, fmt.Errorf("expected a list, got %s", describeValue(data))
		}
	}
	return data, nil
}

// describeValue names the kind of a decoded value for error messages,
// without showing it.
func describeValue(data any) string {
	if data == nil {
		return "nothing"
	}
	switch reflect.TypeOf(data).Kind() {
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return fmt.Sprintf("a %T", data)
}

// describeType names the type a key expects.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType:
		return "a duration"
	case byteSizeType:
		return "a size"
	}
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// decodeError turns mapstructure's error tree into one "key: problem"
// line per problem, sorted.
func decodeError(err error) error {
	lines := decodeErrorLines(err, nil)
	slices.Sort(lines)
	lines = slices.Compact(lines)
	errs := make([]error, len(lines))
	for i, l := range lines {
		errs[i] = errors.New(l)
	}
	return errors.Join(errs...)
}

// configTypeName is what mapstructure calls the top level in errors.
var configTypeName = reflect.TypeFor[Config]().String()

// mapKeyRE matches the "[key]" mapstructure writes for a map entry, as
// opposed to "[0]" for a list item.
var mapKeyRE = regexp.MustCompile(`\[([^\[\]]*[^\[\]0-9][^\[\]]*)\]`)

// keyPath rewrites mapstructure's field name into a config key:
// "tools[0].params[path].type" becomes "tools[0].params.path.type".
func keyPath(name string) string {
	return mapKeyRE.ReplaceAllString(name, ".$1")
}

func joinKey(name, key string) string {
	if name == "" {
		return key
	}
	return name + "." + key
}

func decodeErrorLines(err error, lines []string) []string {
	de, ok := err.(*mapstructure.DecodeError)
	if !ok {
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				lines = decodeErrorLines(e, lines)
			}
			return lines
		case interface{ Unwrap() error }:
			// Decode wraps several errors in "decoding failed due to…".
			if inner := e.Unwrap(); inner != nil {
				return decodeErrorLines(inner, lines)
			}
		}
		return append(lines, err.Error())
	}
	name := keyPath(de.Name())
	if name == configTypeName {
		name = "" // mapstructure names the top level by its type
	}
	inner := de.Unwrap()
	switch inner.(type) {
	case interface{ Unwrap() []error }, *mapstructure.DecodeError:
		return decodeErrorLines(inner, lines)
	}
	var (
		pe *mapstructure.ParseError
		ue *mapstructure.UnconvertibleTypeError
	)
	msg := inner.Error()
	switch {
	case strings.HasPrefix(msg, "has invalid keys: "):
		valid := keysAt(name)
		for k := range strings.SplitSeq(strings.TrimPrefix(msg, "has invalid keys: "), ", ") {
			line := joinKey(name, k) + ": unknown key"
			if near := nearestKey(k, valid); near != "" {
				line += fmt.Sprintf(" (did you mean %s?)", near)
			}
			lines = append(lines, line)
		}
		return lines
	case errors.As(inner, &pe):
		msg = fmt.Sprintf("%s is not %s", quoteValue(pe.Value), describeType(pe.Expected.Type()))
	case errors.As(inner, &ue):
		msg = fmt.Sprintf("expected %s, got %s", describeType(ue.Expected.Type()), describeValue(ue.Value))
	}
	if name == "" {
		return append(lines, msg)
	}
	return append(lines, name+": "+msg)
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}
