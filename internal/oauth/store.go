package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"tailscale.com/ipn"
)

// KeySize is the length in bytes of the credential key (mcp.credential_key).
const KeySize = 32

// ParseKey decodes a credential key as the configuration writes it: 32
// bytes, either as 64 hexadecimal digits (`openssl rand -hex 32`) or in
// base64 (`openssl rand -base64 32`: 44 characters, standard or URL
// alphabet, padding optional). Surrounding white space is ignored. The
// error names the problem, never the value.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the credential key is empty; generate one with `openssl rand -base64 32`")
	}
	var b []byte
	var err error
	if len(s) == 2*KeySize {
		b, err = hex.DecodeString(s)
	} else {
		t := strings.TrimRight(s, "=")
		if strings.ContainsAny(t, "-_") {
			b, err = base64.RawURLEncoding.DecodeString(t)
		} else {
			b, err = base64.RawStdEncoding.DecodeString(t)
		}
	}
	if err != nil {
		return nil, errors.New("the credential key is neither 64 hexadecimal digits nor base64")
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("the credential key is %d bytes; it must be %d (generate one with `openssl rand -base64 32`)", len(b), KeySize)
	}
	return b, nil
}

// keyPrefix starts every state-store key this package writes.
const keyPrefix = "tsmcp-oauth-"

// sealVersion is the first byte of a sealed record: the format (AES-256-GCM,
// 12-byte random nonce, keys derived with HKDF-SHA256).
const sealVersion = 1

// Store keeps OAuth records in the node's state backend (an ipn.StateStore:
// a directory, a Kubernetes Secret, an SSM parameter), sealed with
// AES-256-GCM under a key derived from the credential key. A record's
// state-store key is an HMAC of what it belongs to, so the store's keys
// reveal no login or upstream name, and the record's associated data
// binds it to that owner: a ciphertext copied under another identity's key
// fails to open.
type Store struct {
	st   ipn.StateStore
	aead cipher.AEAD
	mac  []byte // the HMAC key that names records
}

// NewStore returns a Store writing to st, sealing under key (32 bytes, see
// ParseKey).
func NewStore(st ipn.StateStore, key []byte) (*Store, error) {
	if st == nil {
		return nil, errors.New("oauth: no state store")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("oauth: the credential key is %d bytes; it must be %d", len(key), KeySize)
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "tsmcp oauth record encryption v1", 32)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, key, nil, "tsmcp oauth record naming v1", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Store{st: st, aead: aead, mac: mac}, nil
}

// owner names what a record belongs to: its kind and the parts that
// identify it (an identity key and an upstream name, or an issuer).
type owner struct {
	kind  string
	parts []string
}

// ad is the owner's associated data (and the HMAC input): the kind and
// each part, length-prefixed so no two owners share an encoding.
func (o owner) ad() []byte {
	b := []byte("tsmcp-oauth-v1\x00" + o.kind)
	for _, p := range o.parts {
		b = fmt.Appendf(b, "\x00%d:%s", len(p), p)
	}
	return b
}

// key is the owner's state-store key.
func (s *Store) key(o owner) ipn.StateKey {
	m := hmac.New(sha256.New, s.mac)
	m.Write(o.ad())
	return ipn.StateKey(keyPrefix + hex.EncodeToString(m.Sum(nil)[:20]))
}

// put seals v (JSON) for o and writes it.
func (s *Store) put(o owner, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	out = s.aead.Seal(out, nonce, plain, o.ad())
	if err := s.st.WriteState(s.key(o), out); err != nil {
		return fmt.Errorf("oauth: writing a %s record to the state store: %w", o.kind, err)
	}
	return nil
}

// errNoRecord is get's answer for an owner without a record.
var errNoRecord = errors.New("no record")

// get reads and opens o's record into v. A missing record is errNoRecord;
// one that does not open (another key, another owner, damaged) is an
// error saying so.
func (s *Store) get(o owner, v any) error {
	b, err := s.st.ReadState(s.key(o))
	if errors.Is(err, ipn.ErrStateNotExist) || (err == nil && len(b) == 0) {
		return errNoRecord
	}
	if err != nil {
		return fmt.Errorf("oauth: reading a %s record from the state store: %w", o.kind, err)
	}
	ns := s.aead.NonceSize()
	if len(b) < 1+ns || b[0] != sealVersion {
		return fmt.Errorf("oauth: the stored %s record is not in a known format", o.kind)
	}
	plain, err := s.aead.Open(nil, b[1:1+ns], b[1+ns:], o.ad())
	if err != nil {
		return fmt.Errorf("oauth: the stored %s record does not open with the credential key (another key, or not this record)", o.kind)
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("oauth: the stored %s record does not decode: %w", o.kind, err)
	}
	return nil
}

// exists reports whether o has a record (not opened: unreadable is
// absent).
func (s *Store) exists(o owner) bool {
	b, err := s.st.ReadState(s.key(o))
	return err == nil && len(b) > 0
}

// del deletes o's record (no error when there is none).
func (s *Store) del(o owner) error {
	if err := s.st.WriteState(s.key(o), nil); err != nil {
		return fmt.Errorf("oauth: deleting a %s record from the state store: %w", o.kind, err)
	}
	return nil
}

// tokenOwner is the owner of identity's token for upstream.
func tokenOwner(identity, upstream string) owner {
	return owner{kind: "token", parts: []string{identity, upstream}}
}

// registrationOwner is the owner of the dynamic registration at the
// authorization server issuer for redirectURI.
func registrationOwner(issuer, redirectURI string) owner {
	return owner{kind: "registration", parts: []string{issuer, redirectURI}}
}
