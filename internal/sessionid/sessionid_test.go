package sessionid

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
	m := New(testSessionKey)
	other := New(otherSessionKey)
	aliceSID := m.Mint(sidAlice, sidNow)
	ciSID := m.Mint(sidCI, sidNow)
	body := len(sessionIDPrefix)
	tests := []struct {
		name   string
		minter *Minter
		sid    string
		caller *identity.Identity
		want   Verdict
	}{
		{"owner", m, aliceSID, sidAlice, Valid},
		{"owner as a fresh identity value (display name, node name, shared ignored)", m, aliceSID, sidAliceCopied, Valid},
		{"tagged owner", m, ciSID, sidCI, Valid},
		{"another replica with the same key", New(testSessionKey), aliceSID, sidAlice, Valid},
		{"another user", m, aliceSID, sidBob, Foreign},
		{"same user on another node", m, aliceSID, sidAliceOther, Foreign},
		{"user's ID replayed by a tagged node", m, aliceSID, sidCI, Foreign},
		{"tagged node's ID replayed by a user", m, ciSID, sidAlice, Foreign},
		{"same node, other tags", m, ciSID, sidCIMoreTags, Foreign},
		{"field boundaries are unambiguous", m, m.Mint(sidAmbiguous1, sidNow), sidAmbiguous2, Foreign},
		{"no caller", m, aliceSID, nil, Foreign},
		{"ID bound to no identity", m, m.Mint(nil, sidNow), sidAlice, Foreign},
		{"another key", other, aliceSID, sidAlice, OtherKey},
		{"flipped key ID", m, flip(aliceSID, body), sidAlice, OtherKey},
		{"flipped issue time, first", m, flip(aliceSID, body+6), sidAlice, Foreign},
		{"flipped issue time, last", m, flip(aliceSID, body+12), sidAlice, Foreign},
		{"flipped random, first", m, flip(aliceSID, body+14), sidAlice, Foreign},
		{"flipped random, last", m, flip(aliceSID, body+33), sidAlice, Foreign},
		{"flipped MAC, first", m, flip(aliceSID, body+35), sidAlice, Foreign},
		{"flipped MAC, last", m, flip(aliceSID, sessionIDLen-1), sidAlice, Foreign},
		{"upper-cased", m, strings.ToUpper(aliceSID), sidAlice, Malformed},
		{"wrong version", m, "s3" + aliceSID[2:], sidAlice, Malformed},
		{"a version 1 ID (no issue time)", m, "s1." + aliceSID[len(sessionIDPrefix):len(sessionIDPrefix)+48], sidAlice, Malformed},
		{"truncated", m, aliceSID[:sessionIDLen-1], sidAlice, Malformed},
		{"extended", m, aliceSID + "A", sidAlice, Malformed},
		{"trailing newline in place of a character", m, aliceSID[:sessionIDLen-1] + "\n", sidAlice, Malformed},
		{"padding character", m, aliceSID[:sessionIDLen-1] + "=", sidAlice, Malformed},
		{"empty", m, "", sidAlice, Malformed},
		{"pre-HMAC hex ID", m, "0123456789abcdef0123456789abcdef", sidAlice, Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.minter.Verify(tt.sid, tt.caller); got != tt.want {
				t.Fatalf("Verify(%q) = %v, want %v", tt.sid, got, tt.want)
			}
		})
	}
}

// TestSessionIDFormat: IDs are visible ASCII (as the Streamable HTTP spec
// requires of session IDs), of one length, versioned, unique, and carry
// their issue time.
func TestSessionIDFormat(t *testing.T) {
	m := New(testSessionKey)
	seen := map[string]bool{}
	for i := range 1000 {
		at := sidNow.Add(time.Duration(i) * 1001 * time.Millisecond)
		sid := m.Mint(sidAlice, at)
		if sessionIDLen != 59 || len(sid) != sessionIDLen || !strings.HasPrefix(sid, "s2.") {
			t.Fatalf("ID %q: length %d, want 59 with prefix s2.", sid, len(sid))
		}
		issued, tag, ok := Facts(sid)
		if !ok || !issued.Equal(at.Truncate(time.Second)) || tag == (Tag{}) {
			t.Fatalf("Facts(%q) = %v, %x, %v; want issued %v", sid, issued, tag, ok, at.Truncate(time.Second))
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
	a, b := New(nil), New(nil)
	sid := a.Mint(sidAlice, sidNow)
	if got := a.Verify(sid, sidAlice); got != Valid {
		t.Fatalf("own ID: %v", got)
	}
	if got := b.Verify(sid, sidAlice); got != OtherKey {
		t.Fatalf("another process's ID: %v, want %v", got, OtherKey)
	}
}

// FuzzSessionIDVerify: the verifier never panics, and accepts for a caller
// exactly the IDs minted for that caller: no other string, and no ID of
// another caller.
func FuzzSessionIDVerify(f *testing.F) {
	m := New(testSessionKey)
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
			if m.Verify(sid, caller) != Valid {
				continue
			}
			if owner := minted[sid]; owner == nil || !owner.Equal(caller) {
				t.Fatalf("Verify(%q, %v) accepted an ID not minted for that caller", sid, caller)
			}
		}
	})
}

// FuzzSessionIDMutation: no change to a minted ID's bytes (one to three
// bytes replaced) is accepted for its owner.
func FuzzSessionIDMutation(f *testing.F) {
	m := New(testSessionKey)
	sid := m.Mint(sidAlice, sidNow)
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
		if got := m.Verify(string(mut), sidAlice); got == Valid {
			t.Fatalf("mutated ID %q accepted (original %q)", mut, sid)
		}
	})
}
