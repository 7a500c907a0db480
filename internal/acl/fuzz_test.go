package acl

import (
	"encoding/json"
	"testing"

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
// under the app capability) to Decide. It must never panic; a value that
// does not decode denies every tool, even one a local rule allows; a value
// that decodes allows exactly the tools its valid patterns match.
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
	} {
		f.Add(seed, "docs__search")
	}
	p, err := New(Config{Rules: []Rule{{Src: []string{"alice@example.com"}, Tools: []string{"*"}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, tool string) {
		caps := tailcfg.PeerCapMap{DefaultCapability: []tailcfg.RawMessage{tailcfg.RawMessage(raw)}}
		var g Grant
		decodes := json.Unmarshal([]byte(raw), &g) == nil
		for _, login := range []string{"alice@example.com", "zed@example.com"} {
			d := p.Decide(&identity.Identity{LoginName: login, Caps: caps}, tool)
			if !decodes {
				if d.Allow {
					t.Fatalf("%s: malformed grant %q allowed %q (%s)", login, raw, tool, d.Reason)
				}
				continue
			}
			want := validToolName(tool) && login == "alice@example.com"
			for _, pat := range g.Tools {
				if validPattern(pat) && validToolName(tool) && matchGlob(pat, tool) {
					want = true
				}
			}
			if d.Allow != want {
				t.Fatalf("%s: grant %q, tool %q: Allow=%v (%s), want %v", login, raw, tool, d.Allow, d.Reason, want)
			}
		}
	})
}
