package acl

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// TestPolicyReference keeps docs/policy.md true: the kinds in its table
// are the kinds the policy decides (each one a key of rules and grants),
// the keys of its example rule are exactly acl.Rule's, the keys of its
// example grant are exactly those parseGrant accepts (and the example
// decodes), the capability it names is DefaultCapability, and the
// principal forms it lists are the ones parsePrincipal accepts.
func TestPolicyReference(t *testing.T) {
	doc := testutil.ReadDoc(t, "policy.md")
	var kindKeys []string
	for _, k := range kinds {
		kindKeys = append(kindKeys, k.key())
	}
	patterns := doc.Section(t, "Principals and patterns")
	grants := doc.Section(t, "Local rules and tailnet grants")

	t.Run("kinds table", func(t *testing.T) {
		var documented []string
		for _, r := range doc.Table(t, "Principals and patterns").Rows {
			documented = append(documented, strings.Trim(r[0], "`"))
		}
		sameKeys(t, documented, kindKeys, doc.Path+": the kinds table under \"## Principals and patterns\"", "a kind the policy decides")
	})

	t.Run("rule keys", func(t *testing.T) {
		var ruleKeys []string
		for i := range reflect.TypeFor[Rule]().NumField() {
			ruleKeys = append(ruleKeys, reflect.TypeFor[Rule]().Field(i).Tag.Get("mapstructure"))
		}
		yaml := fenced(t, patterns, "yaml")
		_, rules, ok := strings.Cut(yaml, "rules:\n")
		if !ok {
			t.Fatalf("%s: the yaml example under \"## Principals and patterns\" has no rules:", doc.Path)
		}
		var documented []string
		for _, m := range regexp.MustCompile(`(?m)^\s*(?:- )?([a-z_]+):`).FindAllStringSubmatch(rules, -1) {
			documented = append(documented, m[1])
		}
		sameKeys(t, documented, ruleKeys, doc.Path+": the example rule under \"## Principals and patterns\"", "a key of acl.Rule")
		for _, k := range kindKeys {
			if !slices.Contains(ruleKeys, k) {
				t.Errorf("%s: a kind's key that acl.Rule does not have", k)
			}
		}
	})

	t.Run("grant keys", func(t *testing.T) {
		var example struct {
			Grants []struct {
				App map[string][]json.RawMessage `json:"app"`
			} `json:"grants"`
		}
		if err := json.Unmarshal([]byte("{"+fenced(t, grants, "json")+"}"), &example); err != nil {
			t.Fatalf("%s: the grant example under \"## Local rules and tailnet grants\" is not JSON: %v", doc.Path, err)
		}
		if len(example.Grants) != 1 || len(example.Grants[0].App) != 1 {
			t.Fatalf("%s: the grant example must be one grant with one capability", doc.Path)
		}
		for capName, values := range example.Grants[0].App {
			if capName != DefaultCapability {
				t.Errorf("%s: the grant example's capability is %q, the default is %q", doc.Path, capName, DefaultCapability)
			}
			for _, v := range values {
				if _, err := parseGrant(v); err != nil {
					t.Errorf("%s: the grant example's value %s does not decode: %v", doc.Path, v, err)
				}
				var obj map[string]any
				if err := json.Unmarshal(v, &obj); err != nil {
					t.Fatal(err)
				}
				sameKeys(t, slices.Collect(maps.Keys(obj)), kindKeys, doc.Path+": the grant example", "a key parseGrant accepts")
			}
		}
		// The keys the prose lists ("keys are exactly `tools`, ...").
		_, after, ok := strings.Cut(strings.Join(strings.Fields(grants), " "), "keys are exactly ")
		if !ok {
			t.Fatalf("%s: \"## Local rules and tailnet grants\" no longer says which keys a grant value has (\"keys are exactly ...\")", doc.Path)
		}
		listed, _, _ := strings.Cut(after, "(")
		sameKeys(t, testutil.CodeSpans(listed), kindKeys, doc.Path+": \"keys are exactly ...\"", "a key parseGrant accepts")
		for _, k := range kindKeys {
			if _, err := parseGrant([]byte(`{"` + k + `":[]}`)); err != nil {
				t.Errorf("%s: parseGrant refuses a kind's key: %v", k, err)
			}
		}
	})

	t.Run("principals", func(t *testing.T) {
		_, after, ok := strings.Cut(patterns, "Principals: ")
		if !ok {
			t.Fatalf("%s: \"## Principals and patterns\" no longer lists the principals (\"Principals: ...\")", doc.Path)
		}
		sentence, _, _ := strings.Cut(after, ". ")
		var documented []string
		for _, p := range testutil.CodeSpans(sentence) {
			if strings.Contains(p, "@") {
				p = "user@domain" // the example of a login
			}
			documented = append(documented, p)
		}
		accepted := regexp.MustCompile(`, | or `).Split(strings.TrimPrefix(principalWant, "want "), -1)
		sameKeys(t, documented, accepted, doc.Path+": \"Principals: ...\"", "a principal form parsePrincipal accepts")
		groups := map[string]map[string]struct{}{"name": {}}
		for _, p := range documented {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "<name>", "name"), "user@domain", "alice@example.com")
			if _, err := parsePrincipal(p, groups); err != nil {
				t.Errorf("%s: documented as a principal but refused: %v", p, err)
			}
		}
	})
}

// sameKeys reports, naming where, each key documented but not accepted
// (what names what is accepted) and each accepted but not documented.
func sameKeys(t *testing.T, documented, accepted []string, where, what string) {
	t.Helper()
	for _, k := range documented {
		if !slices.Contains(accepted, k) {
			t.Errorf("%s: names %q, which is not %s (those are %q)", where, k, what, accepted)
		}
	}
	for _, k := range accepted {
		if !slices.Contains(documented, k) {
			t.Errorf("%s: does not name %q, %s", where, k, what)
		}
	}
}

// fenced returns the body of the first ```lang block of text.
func fenced(t *testing.T, text, lang string) string {
	t.Helper()
	_, after, ok := strings.Cut(text, "```"+lang+"\n")
	if !ok {
		t.Fatalf("no ```%s block", lang)
	}
	body, _, _ := strings.Cut(after, "```")
	return body
}
