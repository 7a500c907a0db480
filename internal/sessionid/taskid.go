package sessionid

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Task IDs (MCP Tasks) are bound to the identity that created the task
// the way session IDs are, so that any host holding the key tells, without
// state, whether the caller presenting one is its owner, and reads what
// the host sealed in it (which upstream holds the task, under which ID).
//
// Format (version 1):
//
//	"t1." + base64url-unpadded(keyID[4] || mac[16] || payload)
//
// mac is HMAC-SHA256(key, domain || "t1" || keyID || binding || payload)
// truncated to 128 bits, binding as for session IDs (writeBinding). The
// payload is the host's and is not secret; only its binding to the owner
// and its integrity are. Verification re-mints the ID for the caller and
// compares the whole string in constant time: no other spelling is
// accepted, and neither the payload nor the owner can be changed without
// the key.
const (
	taskIDVersion   = "t1"
	taskIDPrefix    = taskIDVersion + "."
	taskMACDomain   = "tsmcp task id\x00"
	taskHeaderLen   = sessionKeyIDLen + sessionMACLen
	MaxTaskPayload  = 768 // bytes of payload a task ID may carry
	maxTaskIDLength = len(taskIDPrefix) + (taskHeaderLen+MaxTaskPayload+2)/3*4
)

// SealTask returns a task ID carrying payload, bound to owner. ok is false
// (and the ID empty) when payload is empty or over MaxTaskPayload bytes, or
// owner is nil.
func (m *Minter) SealTask(owner *identity.Identity, payload []byte) (tid string, ok bool) {
	if owner == nil || len(payload) == 0 || len(payload) > MaxTaskPayload {
		return "", false
	}
	raw := make([]byte, 0, taskHeaderLen+len(payload))
	raw = append(raw, m.keyID[:]...)
	raw = append(raw, m.taskMAC(owner, payload)...)
	raw = append(raw, payload...)
	return taskIDPrefix + sessionIDEncoding.EncodeToString(raw), true
}

// OpenTask returns the payload of tid when tid is a task ID this key
// sealed for caller; ok is false for anything else (malformed, another
// key's, another identity's, forged or tampered), which the host answers
// exactly as an unknown task.
func (m *Minter) OpenTask(tid string, caller *identity.Identity) (payload []byte, ok bool) {
	if caller == nil || len(tid) > maxTaskIDLength || !strings.HasPrefix(tid, taskIDPrefix) {
		return nil, false
	}
	raw, err := sessionIDEncoding.DecodeString(tid[len(taskIDPrefix):])
	if err != nil || len(raw) <= taskHeaderLen || len(raw) > taskHeaderLen+MaxTaskPayload {
		return nil, false
	}
	payload = raw[taskHeaderLen:]
	want, ok := m.SealTask(caller, payload)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(tid)) != 1 {
		return nil, false
	}
	return payload, true
}

// taskMAC is the truncated MAC binding payload to owner.
func (m *Minter) taskMAC(owner *identity.Identity, payload []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(taskMACDomain))
	h.Write([]byte(taskIDVersion))
	h.Write(m.keyID[:])
	writeBinding(h, owner)
	h.Write(payload)
	return h.Sum(nil)[:sessionMACLen]
}
