package acl

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tsmcp/tsmcp/internal/identity"
	"tailscale.com/tailcfg"
)

// FuzzNew feeds arbitrary acl sections (as JSON, the form TSMCP_ACL_* and
// JSON config files take) to the policy parser. New must never panic; a
// policy it accepts must never panic in Decide, must deny callers without
// identity, and must never let a tagged node in through a login or group.
//
// go test ./internal/acl -run '^$' -fuzz FuzzNew
func FuzzNew(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"rules":[{"src":["*"],"tools":["whoami"]}]}`,
		`{"groups":{"sre":["alice@example.com"]},"rules":[{"src":["group:sre","tag:ci"],"tools":["*"]}]}`,
		`{"capability":"example.com/cap/x","rules":[{"src":["autogroup:member"],"tools":["a*b*c"]}]}`,
		`{"rules":[{"src":["autogroup:shared"],"tools":["docs__*"]}]}`,
		`{"rules":[{"src":["group:nope"],"tools":["x"]}]}`,
		`{"rules":[{"src":["ALICE@Example.com"],"tools":["**"]}]}`,
		`{"rules":[{"src":["tag:"],"tools":[""]}]}`,
		`{"rules":[{"src":["autogroup:admin"],"tools":["x y"]}]}`,
		`{"capability":"","groups":{"":[""]}}`,
	} {
		f.Add(seed, "alice@example.com", "tag:ci", "whoami")
	}
	f.Fuzz(func(t *testing.T, cfgJSON, login, tag, tool string) {
		var cfg Config
		if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
			return
		}
		p, err := New(cfg)
		if err != nil {
			if p != nil {
				t.Fatalf("New returned both a policy and an error: %v", err)
			}
			return
		}
		if d := p.Decide(nil, tool); d.Allow {
			t.Fatalf("nil identity allowed %q", tool)
		}
		if d := p.Decide(&identity.Identity{}, tool); d.Allow {
			t.Fatalf("identity without login or tags allowed %q", tool)
		}
		u := p.Decide(&identity.Identity{LoginName: login}, tool)
		if u.Allow && !validToolName(tool) {
			t.Fatalf("invalid tool name %q allowed", tool)
		}
		if tag == "" {
			return
		}
		// A tagged node carrying a login is judged by its tag alone: the
		// same as the bare tagged node.
		withLogin := p.Decide(&identity.Identity{LoginName: login, Tags: []string{tag}}, tool)
		bare := p.Decide(&identity.Identity{Tags: []string{tag}}, tool)
		if withLogin != bare {
			t.Fatalf("tagged node with login %q: %+v, without: %+v", login, withLogin, bare)
		}
	})
}

// FuzzGrant feeds arbitrary grant values (the JSON the tailnet policy puts
// under the app capability) to every kind's decision. It must never panic.
// The oracle is independent of the decoder: a value is well-formed only if
// it is one JSON object whose keys, compared exactly, are among tools,
// prompts and resources, each holding a list of strings, with no key
// twice (seen as the object's key count differing from the map's). A
// malformed value denies everything, even what a local rule allows; a
// well-formed one allows exactly what its valid patterns match.
//
// go test ./internal/acl -run '^$' -fuzz FuzzGrant
func FuzzGrant(f *testing.F) {
	for _, seed := range []string{
		`{"tools":["docs__*","whoami"]}`,
		`{"tools":[]}`,
		`{}`,
		`{"tools":"whoami"}`,
		`{"tools":[1,2]}`,
		`{"tools":["*"]}`,
		`{"tools":["a b","ok"]}`,
		`null`,
		`[]`,
		``,
		`{"tools":["whoami"],"extra":true}`,
		`{"tools":["whoami"],"TOOLS":["*"]}`,
		`{"tools":["whoami"],"tools":["*"]}`,
		`{"prompts":["docs__*"],"resources":["docs+*"]}`,
		`{"resources":["docs+file:///*"]} x`,
	} {
		f.Add(seed, "docs__search")
	}
	p, err := New(Config{Rules: []Rule{{Src: []string{"alice@example.com"}, Tools: []string{"*"}, Prompts: []string{"*"}, Resources: []string{"*"}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		caps := tailcfg.PeerCapMap{DefaultCapability: []tailcfg.RawMessage{tailcfg.RawMessage(raw)}}
		g, wellFormed := oracleGrant(raw)
		for _, login := range []string{"alice@example.com", "zed@example.com"} {
			id := &identity.Identity{LoginName: login, Caps: caps}
			for _, k := range kinds {
				d := p.decide(k, id, name)
				if !wellFormed {
					if d.Allow {
						t.Fatalf("%s: malformed grant %q allowed %s %q (%s)", login, raw, k, name, d.Reason)
					}
					continue
				}
				want := k.validName(name) && login == "alice@example.com"
				for _, pat := range g[k.key()] {
					if k.validPattern(pat) && k.validName(name) && matchGlob(pat, name) {
						want = true
					}
				}
				if d.Allow != want {
					t.Fatalf("%s: grant %q, %s %q: Allow=%v (%s), want %v", login, raw, k, name, d.Allow, d.Reason, want)
				}
			}
		}
	})
}

// oracleGrant is FuzzGrant's independent reading of a grant value.
func oracleGrant(raw string) (map[string][]string, bool) {
	if !utf8.ValidString(raw) {
		return nil, false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &obj) != nil || obj == nil {
		return nil, false
	}
	// Count the object's top-level keys by walking its tokens: a
	// duplicate key makes more keys than the map holds.
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.Token() // {
	keys := 0
	for dec.More() {
		dec.Token()
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, false
		}
		keys++
	}
	if keys != len(obj) {
		return nil, false
	}
	out := map[string][]string{}
	for k, v := range obj {
		if k != "tools" && k != "prompts" && k != "resources" {
			return nil, false
		}
		var list []string
		if len(v) == 0 || v[0] != '[' || json.Unmarshal(v, &list) != nil {
			return nil, false
		}
		out[k] = list
	}
	return out, true
}
