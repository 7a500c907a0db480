package sessionid

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// sealedKinds are the kinds of sealed tokens, each with its Minter
// methods.
var sealedKinds = []struct {
	kind  sealKind
	other sealKind // a token of this kind must not open as kind
	seal  func(*Minter, *identity.Identity, []byte) (string, bool)
	open  func(*Minter, string, *identity.Identity) ([]byte, bool)
}{
	{taskKind, stateKind, (*Minter).SealTask, (*Minter).OpenTask},
	{stateKind, taskKind, (*Minter).SealState, (*Minter).OpenState},
}

func TestSealedOpen(t *testing.T) {
	for _, k := range sealedKinds {
		t.Run(k.kind.version, func(t *testing.T) { testSealedOpen(t, k.kind, k.other, k.seal, k.open) })
	}
}

func testSealedOpen(t *testing.T, kind, other sealKind, seal func(*Minter, *identity.Identity, []byte) (string, bool), open func(*Minter, string, *identity.Identity) ([]byte, bool)) {
	m := New(testSessionKey)
	payload := []byte("everything\x00simulate-research-query\x00upstream-task-1")
	tid, ok := seal(m, sidAlice, payload)
	if !ok {
		t.Fatal("seal refused a valid payload")
	}
	foreign, _ := m.seal(other, sidAlice, payload)
	prefix := kind.version + "."
	body := len(prefix)
	tests := []struct {
		name   string
		minter *Minter
		tid    string
		caller *identity.Identity
		ok     bool
	}{
		{"owner", m, tid, sidAlice, true},
		{"owner as a fresh identity value", m, tid, sidAliceCopied, true},
		{"another replica with the same key", New(testSessionKey), tid, sidAlice, true},
		{"another user", m, tid, sidBob, false},
		{"same user on another node", m, tid, sidAliceOther, false},
		{"a tagged node", m, tid, sidCI, false},
		{"no caller", m, tid, nil, false},
		{"another key", New(otherSessionKey), tid, sidAlice, false},
		{"tampered MAC", m, flip(tid, body+6), sidAlice, false},
		{"tampered payload", m, flip(tid, len(tid)-3), sidAlice, false},
		{"truncated", m, tid[:len(tid)-4], sidAlice, false},
		{"padded", m, tid + "=", sidAlice, false},
		{"session ID", m, m.Mint(sidAlice, sidNow), sidAlice, false},
		{"other version", m, kind.version[:1] + "9." + tid[body:], sidAlice, false},
		{"the other kind's token of the same payload", m, foreign, sidAlice, false},
		{"the other kind's MAC under this kind's prefix", m, prefix + foreign[len(other.version)+1:], sidAlice, false},
		{"empty", m, "", sidAlice, false},
		{"header only", m, prefix + sessionIDEncoding.EncodeToString(make([]byte, sealedHeaderLen)), sidAlice, false},
		{"oversized", m, prefix + strings.Repeat("A", kind.maxLength()), sidAlice, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := open(tt.minter, tt.tid, tt.caller)
			if ok != tt.ok {
				t.Fatalf("open = %v; want %v", ok, tt.ok)
			}
			if ok && !bytes.Equal(got, payload) {
				t.Errorf("payload = %q; want %q", got, payload)
			}
			if !ok && got != nil {
				t.Errorf("a refused ID returned payload %q", got)
			}
		})
	}
}

func TestSealedRefuses(t *testing.T) {
	m := New(testSessionKey)
	for _, k := range sealedKinds {
		tests := []struct {
			name    string
			owner   *identity.Identity
			payload []byte
		}{
			{"no owner", nil, []byte("x")},
			{"empty payload", sidAlice, nil},
			{"payload over the bound", sidAlice, make([]byte, k.kind.maxPayload+1)},
		}
		for _, tt := range tests {
			t.Run(k.kind.version+"/"+tt.name, func(t *testing.T) {
				if tid, ok := k.seal(m, tt.owner, tt.payload); ok || tid != "" {
					t.Errorf("seal = %q, %v; want a refusal", tid, ok)
				}
			})
		}
		if tid, ok := k.seal(m, sidAlice, make([]byte, k.kind.maxPayload)); !ok {
			t.Errorf("%s: a payload of exactly the bound was refused", k.kind.version)
		} else if _, ok := k.open(m, tid, sidAlice); !ok {
			t.Errorf("%s: the largest token does not open", k.kind.version)
		}
	}
}
