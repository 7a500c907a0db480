package sessionid

import "github.com/tsmcp/tsmcp/internal/identity"

// Request states (the requestState of an input_required result, SEP-2322,
// which a client of the stateless protocol sends back with its answers)
// are sealed tokens (sealed.go) bound to the identity the result was for:
// they carry the upstream's own state and what it answers (the host's
// encoding). Another identity's, forged or tampered states do not open,
// on any replica holding the key.
//
// Format (version 1): "r1." + base64url-unpadded(keyID[4] || mac[16] || payload).

// MaxStatePayload is the bytes of payload a request state may carry.
const MaxStatePayload = 16 << 10

var stateKind = sealKind{version: "r1", domain: "tsmcp request state\x00", maxPayload: MaxStatePayload}

// SealState returns a request state carrying payload, bound to owner. ok
// is false (and the state empty) when payload is empty or over
// MaxStatePayload bytes, or owner is nil.
func (m *Minter) SealState(owner *identity.Identity, payload []byte) (state string, ok bool) {
	return m.seal(stateKind, owner, payload)
}

// OpenState returns the payload of state when it is a request state this
// key sealed for caller; ok is false for anything else (malformed,
// another key's or kind's, another identity's, forged or tampered).
func (m *Minter) OpenState(state string, caller *identity.Identity) (payload []byte, ok bool) {
	return m.open(stateKind, state, caller)
}
