package sessionid

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// A sealed token carries a payload of the host's, bound to the identity it
// was sealed for, so that any host holding the key tells, without state,
// whether the caller presenting it is its owner, and reads the payload.
// Task IDs and request states are the two kinds (see taskid.go,
// state.go); each has its own version prefix and MAC domain, so a token
// of one kind is never accepted as the other.
//
// Format:
//
//	version + "." + base64url-unpadded(keyID[4] || mac[16] || payload)
//
// mac is HMAC-SHA256(key, domain || version || keyID || binding || payload)
// truncated to 128 bits, binding as for session IDs (writeBinding). The
// payload is not secret; only its binding to the owner and its integrity
// are. Opening re-seals the payload for the caller and compares the whole
// string in constant time: no other spelling is accepted, and neither the
// payload nor the owner can be changed without the key.

// sealKind is one kind of sealed token.
type sealKind struct {
	version    string // "t1", "r1"
	domain     string // the MAC's domain separation
	maxPayload int    // bytes
}

// sealedHeaderLen is the bytes before a sealed token's payload.
const sealedHeaderLen = sessionKeyIDLen + sessionMACLen

// maxLength is the longest token of kind k.
func (k sealKind) maxLength() int {
	return len(k.version) + 1 + (sealedHeaderLen+k.maxPayload+2)/3*4
}

// seal returns the token of kind k carrying payload for owner; ok is false
// when payload is empty or too long, or owner is nil.
func (m *Minter) seal(k sealKind, owner *identity.Identity, payload []byte) (string, bool) {
	if owner == nil || len(payload) == 0 || len(payload) > k.maxPayload {
		return "", false
	}
	raw := make([]byte, 0, sealedHeaderLen+len(payload))
	raw = append(raw, m.keyID[:]...)
	raw = append(raw, m.sealMAC(k, owner, payload)...)
	raw = append(raw, payload...)
	return k.version + "." + sessionIDEncoding.EncodeToString(raw), true
}

// open returns the payload of tok when it is a token of kind k this key
// sealed for caller; ok is false for anything else (malformed, another
// kind's, another key's, another identity's, forged or tampered).
func (m *Minter) open(k sealKind, tok string, caller *identity.Identity) ([]byte, bool) {
	prefix := k.version + "."
	if caller == nil || len(tok) > k.maxLength() || !strings.HasPrefix(tok, prefix) {
		return nil, false
	}
	raw, err := sessionIDEncoding.DecodeString(tok[len(prefix):])
	if err != nil || len(raw) <= sealedHeaderLen || len(raw) > sealedHeaderLen+k.maxPayload {
		return nil, false
	}
	payload := raw[sealedHeaderLen:]
	want, ok := m.seal(k, caller, payload)
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(tok)) != 1 {
		return nil, false
	}
	return payload, true
}

// sealMAC is the truncated MAC binding payload to owner.
func (m *Minter) sealMAC(k sealKind, owner *identity.Identity, payload []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(k.domain))
	h.Write([]byte(k.version))
	h.Write(m.keyID[:])
	writeBinding(h, owner)
	h.Write(payload)
	return h.Sum(nil)[:sessionMACLen]
}
