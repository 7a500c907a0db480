package oauth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"tailscale.com/ipn"
	"tailscale.com/ipn/store/mem"
)

// TestParseKey: 32 bytes as hex or base64 (either alphabet, padded or
// not); anything else is refused without echoing the value.
func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	rand.Read(key)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "hex", in: hex.EncodeToString(key), ok: true},
		{name: "base64", in: base64.StdEncoding.EncodeToString(key), ok: true},
		{name: "base64 unpadded", in: base64.RawStdEncoding.EncodeToString(key), ok: true},
		{name: "base64url", in: base64.URLEncoding.EncodeToString(key), ok: true},
		{name: "surrounding space", in: " " + hex.EncodeToString(key) + "\n", ok: true},
		{name: "empty"},
		{name: "16 bytes", in: base64.StdEncoding.EncodeToString(key[:16])},
		{name: "not base64", in: "this is not a key at all, really!!"},
		{name: "hex with a bad digit", in: "zz" + hex.EncodeToString(key)[2:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.in)
			if tc.ok {
				if err != nil || !bytes.Equal(got, key) {
					t.Errorf("ParseKey: %x, %v; want the key", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseKey accepted it")
			}
			if tc.in != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Errorf("the error echoes the value: %v", err)
			}
		})
	}
}

// stateValues returns the mem store's keys and values.
func stateValues(t *testing.T, st *mem.Store) map[string][]byte {
	t.Helper()
	b, err := st.ExportToJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]byte
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStoreSealed: the state store holds neither the token nor the
// identity or upstream in its keys or values.
func TestStoreSealed(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice@example.com")
	rec := e.storedRecord(t, "alice@example.com")
	vals := stateValues(t, e.st)
	if len(vals) != 3 { // the token, the dynamic registration and the index of connected identities
		t.Fatalf("%d records, want 3", len(vals))
	}
	for k, v := range vals {
		for _, s := range []string{"alice", "files", rec.AccessToken, rec.RefreshToken, rec.Client.Secret, rec.Client.ID} {
			if s == "" {
				continue
			}
			if strings.Contains(k, s) || bytes.Contains(v, []byte(s)) {
				t.Errorf("the stored record %s reveals %.6s…", k, s)
			}
		}
		if !strings.HasPrefix(k, keyPrefix) {
			t.Errorf("key %q lacks the prefix %q", k, keyPrefix)
		}
	}
}

// TestStoreBindsOwner: a sealed token copied under another identity's or
// upstream's key does not open (the associated data names its owner), nor
// does any record under another credential key; either counts as not
// connected.
func TestStoreBindsOwner(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	sealed, err := e.st.ReadState(e.store.key(tokenOwner("alice", "files")))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []owner{tokenOwner("mallory", "files"), tokenOwner("alice", "other")} {
		if err := e.st.WriteState(e.store.key(o), sealed); err != nil {
			t.Fatal(err)
		}
		var r record
		if err := e.store.get(o, &r); err == nil || errors.Is(err, errNoRecord) || !strings.Contains(err.Error(), "does not open") {
			t.Errorf("the copy under %v: %v, want a refusal to open", o.parts, err)
		}
	}
	var are *AuthorizationRequiredError
	if _, err := e.get("mallory"); !errors.As(err, &are) {
		t.Errorf("mallory with alice's copied token: %v, want AuthorizationRequiredError", err)
	}
	for _, b := range e.as.bearers {
		if b != "" && e.as.access[strings.TrimPrefix(b, "Bearer ")].subject != "alice-upstream" {
			t.Errorf("a request carried %q", b)
		}
	}

	other := make([]byte, KeySize)
	rand.Read(other)
	s2, _ := NewStore(e.st, other)
	var r record
	if err := s2.get(tokenOwner("alice", "files"), &r); !errors.Is(err, errNoRecord) {
		// Another key names records differently: nothing is found.
		t.Errorf("another key: %v, want no record", err)
	}
	if err := e.st.WriteState(s2.key(tokenOwner("alice", "files")), sealed); err != nil {
		t.Fatal(err)
	}
	if err := s2.get(tokenOwner("alice", "files"), &r); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Errorf("a record sealed under another key: %v, want a refusal to open", err)
	}
}

// TestStoreDelete: Disconnect removes the record from the state store.
func TestStoreDelete(t *testing.T) {
	e := newEnv(t)
	e.connect(t, "alice")
	if err := e.m.Disconnect("alice", "files"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ReadState(e.store.key(tokenOwner("alice", "files"))); !errors.Is(err, ipn.ErrStateNotExist) {
		t.Errorf("after Disconnect: %v, want ErrStateNotExist", err)
	}
	if err := e.m.Disconnect("alice", "files"); err != nil {
		t.Errorf("a second Disconnect: %v", err)
	}
}

// TestNewStoreRefuses: a missing store or a key of the wrong size.
func TestNewStoreRefuses(t *testing.T) {
	if _, err := NewStore(nil, make([]byte, KeySize)); err == nil {
		t.Error("no store accepted")
	}
	if _, err := NewStore(&mem.Store{}, make([]byte, 16)); err == nil {
		t.Error("a 16-byte key accepted")
	}
}
