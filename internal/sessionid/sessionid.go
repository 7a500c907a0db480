// Package sessionid mints and verifies the MCP session IDs of tsmcp, and
// remembers the IDs ended on a host (Tombstones).
//
// An ID is bound to the identity it was minted for and carries its issue
// time, so any host holding the same key tells, without shared state,
// whether the caller presenting it is its owner (Minter.Verify) and how old
// it is (Facts). Deciding what to do with an ID (serve, adopt, refuse, log,
// audit) is the host's job (internal/server).
package sessionid

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strings"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// IDs carry their owner's binding and their issue time, so that
// any replica holding the same key (mcp.session_key) can tell, without
// state, whether the caller presenting an ID is the identity it was minted
// for, and whether the ID is past mcp.session_max_age.
//
// Format (version 2), 59 visible ASCII characters:
//
//	"s2." + base64url-unpadded(keyID[4] || issued[6] || random[16] || mac[16])
//
// keyID is the first 4 bytes of HMAC-SHA256(key, "tsmcp session key id"):
// it only tells IDs of another key (a rotated or foreign one) from forged
// ones, for the log. issued is the minting host's clock when it minted the
// ID, in whole seconds since the Unix epoch, big-endian. mac is
// HMAC-SHA256(key, domain || "s2" || keyID || issued || random || binding)
// truncated to 128 bits, where binding is exactly what identity.Equal
// compares: the stable node ID, the login and the (sorted) tags, each
// length-prefixed. 42 bytes encode to 56 base64 characters with no spare
// bits, and verification compares the whole re-minted string in constant
// time, so no other spelling of an ID is accepted, and neither its issue
// time nor its binding can be changed without the key.
//
// Version 1 ("s1.", no issue time) is no longer accepted: an s1 ID is
// malformed, unknown here (404), and its client starts a new session.
const (
	sessionIDVersion = "s2"
	sessionIDPrefix  = sessionIDVersion + "."
	sessionKeyIDLen  = 4
	sessionIssuedLen = 6
	sessionRandLen   = 16
	sessionMACLen    = 16
	sessionRawLen    = sessionKeyIDLen + sessionIssuedLen + sessionRandLen + sessionMACLen
	// sessionIDLen is the length of every ID this version mints.
	sessionIDLen = len(sessionIDPrefix) + sessionRawLen/3*4
	// sessionMACDomain separates these MACs from any other use of the key.
	sessionMACDomain = "tsmcp session id\x00"
	// sessionKeyIDLabel derives the key ID.
	sessionKeyIDLabel = "tsmcp session key id"
)

var sessionIDEncoding = base64.RawURLEncoding.Strict()

// Verdict is what a session ID says about the caller presenting it. The
// zero value is Malformed.
type Verdict int

const (
	// Malformed: not an ID of this format (or of no known format).
	Malformed Verdict = iota
	// OtherKey: well-formed, minted under another key (before a key
	// rotation, or by a host of another deployment). Unknown here.
	OtherKey
	// Foreign: well-formed, of this key, but not minted for this
	// caller: another identity's session, or a forged or tampered ID.
	Foreign
	// Valid: minted under this key for this caller.
	Valid
)

// String names v for the log: "malformed", "other key", "foreign" or
// "valid".
func (v Verdict) String() string {
	switch v {
	case OtherKey:
		return "other key"
	case Foreign:
		return "foreign"
	case Valid:
		return "valid"
	default:
		return "malformed"
	}
}

// Minter mints and verifies session IDs under one key. It is immutable and
// safe for concurrent use. The zero Minter is not usable: use New.
type Minter struct {
	key   []byte
	keyID [sessionKeyIDLen]byte
}

// New returns a minter for key; a nil or empty key means a
// random key for this process (IDs then verify only here, until exit).
func New(key []byte) *Minter {
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand panics instead)
	}
	m := &Minter{key: append([]byte(nil), key...)}
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(sessionKeyIDLabel))
	copy(m.keyID[:], mac.Sum(nil))
	return m
}

// Mint returns a new session ID bound to id, issued at now. A nil id
// mints an ID bound to no identity, which no caller's verification
// accepts.
func (m *Minter) Mint(id *identity.Identity, now time.Time) string {
	var random [sessionRandLen]byte
	rand.Read(random[:]) // never fails (crypto/rand panics instead)
	var issued [sessionIssuedLen]byte
	putIssued(issued[:], now)
	return m.format(issued[:], random[:], id)
}

// format builds the ID for issued, random and id.
func (m *Minter) format(issued, random []byte, id *identity.Identity) string {
	var raw [sessionRawLen]byte
	n := copy(raw[:], m.keyID[:])
	n += copy(raw[n:], issued)
	n += copy(raw[n:], random)
	copy(raw[n:], m.mac(issued, random, id))
	var b strings.Builder
	b.Grow(sessionIDLen)
	b.WriteString(sessionIDPrefix)
	b.WriteString(sessionIDEncoding.EncodeToString(raw[:]))
	return b.String()
}

// mac returns the truncated MAC over issued, random and id's binding.
func (m *Minter) mac(issued, random []byte, id *identity.Identity) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(sessionMACDomain))
	h.Write([]byte(sessionIDVersion))
	h.Write(m.keyID[:])
	h.Write(issued)
	h.Write(random)
	writeBinding(h, id)
	return h.Sum(nil)[:sessionMACLen]
}

// putIssued writes t's Unix seconds into b (sessionIssuedLen bytes,
// big-endian); a time before the epoch writes 0.
func putIssued(b []byte, t time.Time) {
	sec := max(t.Unix(), 0)
	for i := sessionIssuedLen - 1; i >= 0; i-- {
		b[i] = byte(sec)
		sec >>= 8
	}
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

// Verify says whether sid was minted under this key for caller. It never
// accepts an ID that differs, in any character, from one Mint returned
// for caller, and compares MACs in constant time. A nil caller is Foreign
// to every well-formed ID of this key. It does not look at the ID's age:
// that is the caller's to judge from Facts.
func (m *Minter) Verify(sid string, caller *identity.Identity) Verdict {
	raw, ok := decodeSessionID(sid)
	if !ok {
		return Malformed
	}
	if subtle.ConstantTimeCompare(raw[:sessionKeyIDLen], m.keyID[:]) != 1 {
		return OtherKey
	}
	if caller == nil {
		return Foreign
	}
	issued := raw[sessionKeyIDLen : sessionKeyIDLen+sessionIssuedLen]
	random := raw[sessionKeyIDLen+sessionIssuedLen : sessionKeyIDLen+sessionIssuedLen+sessionRandLen]
	want := m.format(issued, random, caller)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sid)) != 1 {
		return Foreign
	}
	return Valid
}

// decodeSessionID returns the bytes of an ID of this version.
func decodeSessionID(sid string) ([]byte, bool) {
	if len(sid) != sessionIDLen || !strings.HasPrefix(sid, sessionIDPrefix) {
		return nil, false
	}
	raw, err := sessionIDEncoding.DecodeString(sid[len(sessionIDPrefix):])
	if err != nil || len(raw) != sessionRawLen {
		return nil, false
	}
	return raw, true
}

// Tag names an ID in the ended-session records (Tombstones): the first 8
// of its 16 random bytes (unique among the IDs of one key but for a 2^-64
// chance, and no secret). The zero Tag is what Facts returns for a
// malformed ID.
type Tag [8]byte

// Facts returns what a well-formed ID says of itself: its issue time
// (whole seconds) and its tag; ok is false, with zero values, for a
// malformed ID. They are authentic only for an ID that Verify accepted
// (or that this host minted or adopted).
func Facts(sid string) (issued time.Time, tag Tag, ok bool) {
	raw, ok := decodeSessionID(sid)
	if !ok {
		return time.Time{}, tag, false
	}
	var sec int64
	for _, b := range raw[sessionKeyIDLen : sessionKeyIDLen+sessionIssuedLen] {
		sec = sec<<8 | int64(b)
	}
	copy(tag[:], raw[sessionKeyIDLen+sessionIssuedLen:])
	return time.Unix(sec, 0), tag, true
}
