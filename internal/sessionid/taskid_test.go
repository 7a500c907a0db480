package sessionid

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tsmcp/tsmcp/internal/identity"
)

func TestTaskIDSealOpen(t *testing.T) {
	m := New(testSessionKey)
	payload := []byte("everything\x00simulate-research-query\x00upstream-task-1")
	tid, ok := m.SealTask(sidAlice, payload)
	if !ok {
		t.Fatal("SealTask refused a valid payload")
	}
	body := len(taskIDPrefix)
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
		{"other version", m, "t2." + tid[body:], sidAlice, false},
		{"empty", m, "", sidAlice, false},
		{"header only", m, taskIDPrefix + sessionIDEncoding.EncodeToString(make([]byte, taskHeaderLen)), sidAlice, false},
		{"oversized", m, taskIDPrefix + strings.Repeat("A", maxTaskIDLength), sidAlice, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.minter.OpenTask(tt.tid, tt.caller)
			if ok != tt.ok {
				t.Fatalf("OpenTask = %v; want %v", ok, tt.ok)
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

func TestTaskIDSealRefuses(t *testing.T) {
	m := New(testSessionKey)
	tests := []struct {
		name    string
		owner   *identity.Identity
		payload []byte
	}{
		{"no owner", nil, []byte("x")},
		{"empty payload", sidAlice, nil},
		{"payload over the bound", sidAlice, make([]byte, MaxTaskPayload+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tid, ok := m.SealTask(tt.owner, tt.payload); ok || tid != "" {
				t.Errorf("SealTask = %q, %v; want a refusal", tid, ok)
			}
		})
	}
	if tid, ok := m.SealTask(sidAlice, make([]byte, MaxTaskPayload)); !ok {
		t.Error("a payload of exactly MaxTaskPayload bytes was refused")
	} else if _, ok := m.OpenTask(tid, sidAlice); !ok {
		t.Error("the largest task ID does not open")
	}
}
