package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/acl"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestConfigurationReference keeps docs/configuration.md true: the keys
// its tables name are exactly the keys Load accepts (an unknown key is an
// error there, so a key missing from the tables is undocumented and a key
// only in the tables does not exist), and each key's environment
// variables and flag are the ones Load reads.
func TestConfigurationReference(t *testing.T) {
	doc := testutil.ReadDoc(t, "configuration.md")
	tables := map[string][][]string{} // the first table under each heading
	for section, ts := range doc.Tables {
		tables[section] = ts[0].Rows
	}

	var top []string
	for _, k := range configKeys {
		top = append(top, k.key)
	}
	tests := []struct {
		name     string
		section  string   // the "## " heading above the table
		accepted []string // the keys Load accepts there
	}{
		{name: "keys", section: "Keys", accepted: top},
		{name: "tools entry", section: "Keys of one entry of `tools`", accepted: entryKeys(reflect.TypeFor[Tool](), "")},
		{name: "upstreams entry", section: "Keys of one entry of `upstreams`", accepted: entryKeys(reflect.TypeFor[Upstream](), "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := tables[tt.section]
			if len(rows) == 0 {
				t.Fatalf("docs/configuration.md has no table under %q", "## "+tt.section)
			}
			documented := map[string]bool{}
			for _, r := range rows {
				k := rowKey(t, r)
				if documented[k] {
					t.Errorf("%s: documented twice", k)
				}
				documented[k] = true
			}
			for _, k := range tt.accepted {
				if !documented[k] {
					t.Errorf("%s: accepted by the configuration but missing from the table under %q", k, "## "+tt.section)
				}
			}
			for k := range documented {
				if !slices.Contains(tt.accepted, k) {
					t.Errorf("%s: in the table under %q but not a key the configuration accepts", k, "## "+tt.section)
				}
			}
		})
	}

	t.Run("environment and flags", func(t *testing.T) {
		flags := map[string]string{}
		for _, f := range flagKeys {
			flags[f.key] = "--" + f.name
		}
		for _, r := range tables["Keys"] {
			key := rowKey(t, r)
			if len(r) < 3 {
				t.Errorf("%s: the row has no environment and flag columns", key)
				continue
			}
			if got, want := testutil.CodeSpans(r[1]), envVars(key); !slices.Equal(got, want) {
				t.Errorf("%s: environment column names %q, Load reads %q", key, got, want)
			}
			got := testutil.CodeSpans(r[2])
			switch want, ok := flags[key]; {
			case ok && !slices.Equal(got, []string{want}):
				t.Errorf("%s: flag column names %q, the flag is %s", key, got, want)
			case !ok && (len(got) > 0 || !strings.HasPrefix(r[2], "none")):
				t.Errorf("%s: flag column is %q, but the key has no flag (write none)", key, r[2])
			}
		}
	})

	t.Run("acl.rules entry", func(t *testing.T) {
		var meaning string
		for _, r := range tables["Keys"] {
			if rowKey(t, r) == "acl.rules" {
				meaning = r[len(r)-1]
			}
		}
		for _, k := range entryKeys(reflect.TypeFor[acl.Rule](), "") {
			if !strings.Contains(meaning, k+":") {
				t.Errorf("acl.rules: the meaning %q does not show the rule key %s", meaning, k)
			}
		}
	})
}

// entryKeys lists the keys of one list entry of type t, as a table of
// docs/configuration.md names them: nested sections joined with ".", a
// map of sections as "<name>" (params.<name>.type); lists, maps of
// values and scalars are leaves.
func entryKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		ft := deref(f.Type)
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, entryKeys(ft, prefix+tag+".")...)
		case ft.Kind() == reflect.Map && deref(ft.Elem()).Kind() == reflect.Struct:
			out = append(out, entryKeys(deref(ft.Elem()), prefix+tag+".<name>.")...)
		default:
			out = append(out, prefix+tag)
		}
	}
	return out
}

// rowKey returns the key a table row documents: its first cell, one code
// span.
func rowKey(t *testing.T, row []string) string {
	t.Helper()
	spans := testutil.CodeSpans(row[0])
	if len(spans) != 1 || "`"+spans[0]+"`" != row[0] {
		t.Fatalf("a row's first cell must be one key in backticks, got %q", row[0])
	}
	return spans[0]
}
