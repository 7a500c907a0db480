package server

import (
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

var (
	testSessionKey  = []byte("0123456789abcdef0123456789abcdef")
	otherSessionKey = []byte("fedcba9876543210fedcba9876543210")

	sidAlice       = &identity.Identity{LoginName: "alice@example.com", NodeID: "nAlice1", NodeName: "laptop"}
	sidAliceOther  = &identity.Identity{LoginName: "alice@example.com", NodeID: "nAlice2", NodeName: "phone"}
	sidBob         = &identity.Identity{LoginName: "bob@example.com", NodeID: "nBob", NodeName: "bob"}
	sidCI          = &identity.Identity{NodeID: "nCI", NodeName: "ci", Tags: []string{"tag:ci"}}
	sidCIMoreTags  = &identity.Identity{NodeID: "nCI", NodeName: "ci", Tags: []string{"tag:ci", "tag:prod"}}
	sidAmbiguous1  = &identity.Identity{NodeID: "n1", LoginName: "ab"}
	sidAmbiguous2  = &identity.Identity{NodeID: "n1a", LoginName: "b"}
	sidAliceCopied = &identity.Identity{LoginName: "alice@example.com", NodeID: "nAlice1", NodeName: "renamed",
		DisplayName: "Alice", Shared: true} // what Equal ignores
)

// flip returns sid with the character at i replaced by another of the
// base64url alphabet.
func flip(sid string, i int) string {
	c := byte('A')
	if sid[i] == 'A' {
		c = 'B'
	}
	return sid[:i] + string(c) + sid[i+1:]
}

// sidNow is the issue time of the IDs the unit tests mint.
var sidNow = time.Unix(1_800_000_000, 0)

func TestSessionIDMintVerify(t *testing.T) {
	m := newSessionMinter(testSessionKey)
	other := newSessionMinter(otherSessionKey)
	aliceSID := m.mint(sidAlice, sidNow)
	ciSID := m.mint(sidCI, sidNow)
	body := len(sessionIDPrefix)
	tests := []struct {
		name   string
		minter *sessionMinter
		sid    string
		caller *identity.Identity
		want   sidVerdict
	}{
		{"owner", m, aliceSID, sidAlice, sidValid},
		{"owner as a fresh identity value (display name, node name, shared ignored)", m, aliceSID, sidAliceCopied, sidValid},
		{"tagged owner", m, ciSID, sidCI, sidValid},
		{"another replica with the same key", newSessionMinter(testSessionKey), aliceSID, sidAlice, sidValid},
		{"another user", m, aliceSID, sidBob, sidForeign},
		{"same user on another node", m, aliceSID, sidAliceOther, sidForeign},
		{"user's ID replayed by a tagged node", m, aliceSID, sidCI, sidForeign},
		{"tagged node's ID replayed by a user", m, ciSID, sidAlice, sidForeign},
		{"same node, other tags", m, ciSID, sidCIMoreTags, sidForeign},
		{"field boundaries are unambiguous", m, m.mint(sidAmbiguous1, sidNow), sidAmbiguous2, sidForeign},
		{"no caller", m, aliceSID, nil, sidForeign},
		{"ID bound to no identity", m, m.mint(nil, sidNow), sidAlice, sidForeign},
		{"another key", other, aliceSID, sidAlice, sidOtherKey},
		{"flipped key ID", m, flip(aliceSID, body), sidAlice, sidOtherKey},
		{"flipped issue time, first", m, flip(aliceSID, body+6), sidAlice, sidForeign},
		{"flipped issue time, last", m, flip(aliceSID, body+12), sidAlice, sidForeign},
		{"flipped random, first", m, flip(aliceSID, body+14), sidAlice, sidForeign},
		{"flipped random, last", m, flip(aliceSID, body+33), sidAlice, sidForeign},
		{"flipped MAC, first", m, flip(aliceSID, body+35), sidAlice, sidForeign},
		{"flipped MAC, last", m, flip(aliceSID, sessionIDLen-1), sidAlice, sidForeign},
		{"upper-cased", m, strings.ToUpper(aliceSID), sidAlice, sidMalformed},
		{"wrong version", m, "s3" + aliceSID[2:], sidAlice, sidMalformed},
		{"a version 1 ID (no issue time)", m, "s1." + aliceSID[len(sessionIDPrefix):len(sessionIDPrefix)+48], sidAlice, sidMalformed},
		{"truncated", m, aliceSID[:sessionIDLen-1], sidAlice, sidMalformed},
		{"extended", m, aliceSID + "A", sidAlice, sidMalformed},
		{"trailing newline in place of a character", m, aliceSID[:sessionIDLen-1] + "\n", sidAlice, sidMalformed},
		{"padding character", m, aliceSID[:sessionIDLen-1] + "=", sidAlice, sidMalformed},
		{"empty", m, "", sidAlice, sidMalformed},
		{"pre-HMAC hex ID", m, "0123456789abcdef0123456789abcdef", sidAlice, sidMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.minter.verify(tt.sid, tt.caller); got != tt.want {
				t.Fatalf("verify(%q) = %v, want %v", tt.sid, got, tt.want)
			}
		})
	}
}

// TestSessionIDFormat: IDs are visible ASCII (as the Streamable HTTP spec
// requires of session IDs), of one length, versioned, unique, and carry
// their issue time.
func TestSessionIDFormat(t *testing.T) {
	m := newSessionMinter(testSessionKey)
	seen := map[string]bool{}
	for i := range 1000 {
		at := sidNow.Add(time.Duration(i) * 1001 * time.Millisecond)
		sid := m.mint(sidAlice, at)
		if sessionIDLen != 59 || len(sid) != sessionIDLen || !strings.HasPrefix(sid, "s2.") {
			t.Fatalf("ID %q: length %d, want 59 with prefix s2.", sid, len(sid))
		}
		issued, tag, ok := sessionIDFacts(sid)
		if !ok || !issued.Equal(at.Truncate(time.Second)) || tag == (sessionTag{}) {
			t.Fatalf("sessionIDFacts(%q) = %v, %x, %v; want issued %v", sid, issued, tag, ok, at.Truncate(time.Second))
		}
		for _, c := range []byte(sid) {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("ID %q has a character outside visible ASCII: %q", sid, c)
			}
		}
		if seen[sid] {
			t.Fatalf("ID %q minted twice", sid)
		}
		seen[sid] = true
	}
}

// TestEmptyKeyIsRandomPerProcess: without mcp.session_key, two hosts
// (minters) do not honour each other's IDs.
func TestEmptyKeyIsRandomPerProcess(t *testing.T) {
	a, b := newSessionMinter(nil), newSessionMinter(nil)
	sid := a.mint(sidAlice, sidNow)
	if got := a.verify(sid, sidAlice); got != sidValid {
		t.Fatalf("own ID: %v", got)
	}
	if got := b.verify(sid, sidAlice); got != sidOtherKey {
		t.Fatalf("another process's ID: %v, want %v", got, sidOtherKey)
	}
}

// FuzzSessionIDVerify: the verifier never panics, and accepts for a caller
// exactly the IDs minted for that caller: no other string, and no ID of
// another caller.
func FuzzSessionIDVerify(f *testing.F) {
	m := newSessionMinter(testSessionKey)
	minted := map[string]*identity.Identity{}
	// Deterministic IDs: fuzzing workers re-run this function, and the
	// corpus they are handed must name the same IDs.
	for i, id := range []*identity.Identity{sidAlice, sidBob, sidCI} {
		sid := m.format([]byte("\x00\x00\x6b\x49\xd2\x00"), []byte(strings.Repeat(string(rune('a'+i)), sessionRandLen)), id)
		minted[sid] = id
		f.Add(sid)
		for i := range sid {
			f.Add(flip(sid, i))
		}
		f.Add(sid[:len(sid)-1])
		f.Add(sid + "=")
	}
	f.Add("")
	f.Add("s2.")
	f.Fuzz(func(t *testing.T, sid string) {
		for _, caller := range []*identity.Identity{sidAlice, sidAliceOther, sidBob, sidCI, sidCIMoreTags, nil} {
			if m.verify(sid, caller) != sidValid {
				continue
			}
			if owner := minted[sid]; owner == nil || !owner.Equal(caller) {
				t.Fatalf("verify(%q, %v) accepted an ID not minted for that caller", sid, caller)
			}
		}
	})
}

// FuzzSessionIDMutation: no change to a minted ID's bytes (one to three
// bytes replaced) is accepted for its owner.
func FuzzSessionIDMutation(f *testing.F) {
	m := newSessionMinter(testSessionKey)
	sid := m.mint(sidAlice, sidNow)
	f.Add(uint(3), byte('A'), uint(0), byte(0), uint(0), byte(0))
	f.Add(uint(50), byte('-'), uint(10), byte('_'), uint(20), byte('z'))
	f.Fuzz(func(t *testing.T, p1 uint, b1 byte, p2 uint, b2 byte, p3 uint, b3 byte) {
		mut := []byte(sid)
		for _, c := range []struct {
			p uint
			b byte
		}{{p1, b1}, {p2, b2}, {p3, b3}} {
			mut[c.p%uint(len(mut))] = c.b
		}
		if string(mut) == sid {
			return
		}
		if got := m.verify(string(mut), sidAlice); got == sidValid {
			t.Fatalf("mutated ID %q accepted (original %q)", mut, sid)
		}
	})
}
