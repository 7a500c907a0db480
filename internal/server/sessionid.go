package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strings"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Session IDs carry their owner's binding, so that any replica holding the
// same key (mcp.session_key) can tell, without state, whether the caller
// presenting an ID is the identity it was minted for.
//
// Format (version 1), 51 visible ASCII characters:
//
//	"s1." + base64url-unpadded(keyID[4] || random[16] || mac[16])
//
// keyID is the first 4 bytes of HMAC-SHA256(key, "tsmcp session key id"):
// it only tells IDs of another key (a rotated or foreign one) from forged
// ones, for the log. mac is HMAC-SHA256(key, domain || "s1" || keyID ||
// random || binding) truncated to 128 bits, where binding is exactly what
// identity.Equal compares: the stable node ID, the login and the (sorted)
// tags, each length-prefixed. 36 bytes encode to 48 base64 characters with
// no spare bits, and verification compares the whole re-minted string in
// constant time, so no other spelling of an ID is accepted.
const (
	sessionIDVersion = "s1"
	sessionIDPrefix  = sessionIDVersion + "."
	sessionKeyIDLen  = 4
	sessionRandLen   = 16
	sessionMACLen    = 16
	sessionRawLen    = sessionKeyIDLen + sessionRandLen + sessionMACLen
	// sessionIDLen is the length of every ID this version mints.
	sessionIDLen = len(sessionIDPrefix) + sessionRawLen/3*4
	// sessionMACDomain separates these MACs from any other use of the key.
	sessionMACDomain = "tsmcp session id\x00"
	// sessionKeyIDLabel derives the key ID.
	sessionKeyIDLabel = "tsmcp session key id"
)

var sessionIDEncoding = base64.RawURLEncoding.Strict()

// sidVerdict is what a session ID says about the caller presenting it.
type sidVerdict int

const (
	// sidMalformed: not an ID of this format (or of no known format).
	sidMalformed sidVerdict = iota
	// sidOtherKey: well-formed, minted under another key (before a key
	// rotation, or by a host of another deployment). Unknown here.
	sidOtherKey
	// sidForeign: well-formed, of this key, but not minted for this
	// caller: another identity's session, or a forged or tampered ID.
	sidForeign
	// sidValid: minted under this key for this caller.
	sidValid
)

func (v sidVerdict) String() string {
	switch v {
	case sidOtherKey:
		return "other key"
	case sidForeign:
		return "foreign"
	case sidValid:
		return "valid"
	default:
		return "malformed"
	}
}

// sessionMinter mints and verifies session IDs under one key. Immutable.
type sessionMinter struct {
	key   []byte
	keyID [sessionKeyIDLen]byte
}

// newSessionMinter returns a minter for key; a nil or empty key means a
// random key for this process (IDs then verify only here, until exit).
func newSessionMinter(key []byte) *sessionMinter {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand panics instead)
	}
	m := &sessionMinter{key: append([]byte(nil), key...)}
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(sessionKeyIDLabel))
	copy(m.keyID[:], mac.Sum(nil))
	return m
}

// mint returns a new session ID bound to id. A nil id mints an ID bound
// to no identity, which no caller's verification accepts.
func (m *sessionMinter) mint(id *identity.Identity) string {
	var random [sessionRandLen]byte
	rand.Read(random[:]) // never fails (crypto/rand panics instead)
	return m.format(random[:], id)
}

// format builds the ID for random and id.
func (m *sessionMinter) format(random []byte, id *identity.Identity) string {
	var raw [sessionRawLen]byte
	copy(raw[:], m.keyID[:])
	copy(raw[sessionKeyIDLen:], random)
	copy(raw[sessionKeyIDLen+sessionRandLen:], m.mac(random, id))
	var b strings.Builder
	b.Grow(sessionIDLen)
	b.WriteString(sessionIDPrefix)
	b.WriteString(sessionIDEncoding.EncodeToString(raw[:]))
	return b.String()
}

// mac returns the truncated MAC over random and id's binding.
func (m *sessionMinter) mac(random []byte, id *identity.Identity) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(sessionMACDomain))
	h.Write([]byte(sessionIDVersion))
	h.Write(m.keyID[:])
	h.Write(random)
	writeBinding(h, id)
	return h.Sum(nil)[:sessionMACLen]
}

// writeBinding writes what identity.Equal compares, unambiguously: a
// marker for "no identity", or the stable node ID, the login and the
// tags, each length-prefixed. These are the same on every replica: the
// stable node ID and login come from the coordination server, and tags
// are sorted by identity.FromWhoIs.
func writeBinding(h hash.Hash, id *identity.Identity) {
	if id == nil {
		h.Write([]byte{0})
		return
	}
	h.Write([]byte{1})
	writeField(h, string(id.NodeID))
	writeField(h, id.LoginName)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(id.Tags)))])
	for _, t := range id.Tags {
		writeField(h, t)
	}
}

func writeField(h hash.Hash, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}

// verify says whether sid was minted under this key for caller. It never
// accepts an ID that differs, in any character, from one mint returned
// for caller, and compares MACs in constant time.
func (m *sessionMinter) verify(sid string, caller *identity.Identity) sidVerdict {
	if len(sid) != sessionIDLen || !strings.HasPrefix(sid, sessionIDPrefix) {
		return sidMalformed
	}
	raw, err := sessionIDEncoding.DecodeString(sid[len(sessionIDPrefix):])
	if err != nil || len(raw) != sessionRawLen {
		return sidMalformed
	}
	if subtle.ConstantTimeCompare(raw[:sessionKeyIDLen], m.keyID[:]) != 1 {
		return sidOtherKey
	}
	if caller == nil {
		return sidForeign
	}
	want := m.format(raw[sessionKeyIDLen:sessionKeyIDLen+sessionRandLen], caller)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sid)) != 1 {
		return sidForeign
	}
	return sidValid
}
