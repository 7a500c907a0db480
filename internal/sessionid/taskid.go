package sessionid

import "github.com/tsmcp/tsmcp/internal/identity"

// Task IDs (MCP Tasks) are sealed tokens (sealed.go) bound to the identity
// that created the task the way session IDs are: they carry which
// upstream holds the task and under which ID.
//
// Format (version 1): "t1." + base64url-unpadded(keyID[4] || mac[16] || payload).

// MaxTaskPayload is the bytes of payload a task ID may carry.
const MaxTaskPayload = 768

var taskKind = sealKind{version: "t1", domain: "tsmcp task id\x00", maxPayload: MaxTaskPayload}

// SealTask returns a task ID carrying payload, bound to owner. ok is false
// (and the ID empty) when payload is empty or over MaxTaskPayload bytes, or
// owner is nil.
func (m *Minter) SealTask(owner *identity.Identity, payload []byte) (tid string, ok bool) {
	return m.seal(taskKind, owner, payload)
}

// OpenTask returns the payload of tid when tid is a task ID this key
// sealed for caller; ok is false for anything else (malformed, another
// key's, another identity's, forged or tampered), which the host answers
// exactly as an unknown task.
func (m *Minter) OpenTask(tid string, caller *identity.Identity) (payload []byte, ok bool) {
	return m.open(taskKind, tid, caller)
}
