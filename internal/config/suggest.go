package config

import (
	"reflect"
	"strings"
)

// keysAt returns the keys the mapping at path accepts: path is a config
// key as decodeError writes it ("acl.rules[0]", "tools[0].params.p"; ""
// for the top level). It returns nil when path names no struct (a map's
// keys are free).
func keysAt(path string) []string {
	t := reflect.TypeFor[Config]()
	if path != "" {
		for seg := range strings.SplitSeq(path, ".") {
			name, _, _ := strings.Cut(seg, "[")
			t = deref(t)
			switch t.Kind() {
			case reflect.Map:
				t = t.Elem() // name is a map key
			case reflect.Struct:
				f, ok := fieldByKey(t, name)
				if !ok {
					return nil
				}
				t = f.Type
			default:
				return nil
			}
			// Each [n] steps into a list item.
			for range strings.Count(seg, "[") {
				t = deref(t)
				if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
					return nil
				}
				t = t.Elem()
			}
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// fieldByKey finds the field of struct t whose mapstructure key is key,
// case-insensitively as mapstructure matches.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ","); tag != "" && strings.EqualFold(tag, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// nearestKey returns the key of keys closest to the unknown key k, if it
// is a likely typo of it: at most half as many edits apart as k has
// letters (at least one, at most three), so that a short stray key gets no
// far-fetched suggestion.
func nearestKey(k string, keys []string) string {
	limit := min(max(len(k)/2, 1), 3)
	best, bestD := "", limit+1
	lk := strings.ToLower(k)
	for _, c := range keys {
		if d := editDistance(lk, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
