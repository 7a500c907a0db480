package sessions

import (
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// The keys and callers of the store's unit tests (the session IDs' own
// tests are in internal/sessionid).
var (
	testSessionKey  = []byte("0123456789abcdef0123456789abcdef")
	otherSessionKey = []byte("fedcba9876543210fedcba9876543210")

	sidAlice = &identity.Identity{LoginName: "alice@example.com", NodeID: "nAlice1", NodeName: "laptop"}
	sidBob   = &identity.Identity{LoginName: "bob@example.com", NodeID: "nBob", NodeName: "bob"}
	sidCI    = &identity.Identity{NodeID: "nCI", NodeName: "ci", Tags: []string{"tag:ci"}}
)

// newTestStore returns a store under testSessionKey whose sessions live an
// hour.
func newTestStore() *Store { return New(Config{Key: testSessionKey, MaxAge: time.Hour}) }

// units is a fake mcp.limits.sessions_per_identity: at most max units held.
type units struct {
	max, held int
}

// reserve is the reserve func of Store.Adopt.
func (u *units) reserve() (func(), bool) {
	if u.held >= u.max {
		return nil, false
	}
	u.held++
	return func() { u.held-- }, true
}

// TestBoundSessionsAcrossReplicas: the Manager of a host that never minted
// an ID validates and terminates it for its owner only, refuses it once
// ended there, and refuses another key's IDs.
func TestBoundSessionsAcrossReplicas(t *testing.T) {
	a, b := newTestStore(), newTestStore()
	other := New(Config{Key: otherSessionKey, MaxAge: time.Hour})
	tests := []struct {
		name           string
		store          *Store
		caller         *identity.Identity
		wantValid      bool
		wantTerminated bool
		wantNotAllowed bool // Terminate refused
	}{
		{name: "minting host, owner", store: a, caller: sidAlice, wantValid: true},
		{name: "minting host, another user", store: a, caller: sidBob, wantNotAllowed: true},
		{name: "other replica, owner", store: b, caller: sidAlice, wantValid: true},
		{name: "other replica, another user", store: b, caller: sidBob},
		{name: "other replica, a tagged node", store: b, caller: sidCI},
		{name: "other key, owner", store: other, caller: sidAlice},
		{name: "no caller", store: b, caller: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := a.Open(sidAlice)
			m := tt.store.Manager(tt.caller, nil)
			terminated, err := m.Validate(sid)
			if (err == nil) != tt.wantValid || terminated != tt.wantTerminated {
				t.Fatalf("Validate = %v, %v; want valid %v", terminated, err, tt.wantValid)
			}
			if tt.caller == nil {
				return // Terminate without a caller is the sweeper's
			}
			if notAllowed, err := m.Terminate(sid); err != nil || notAllowed != tt.wantNotAllowed {
				t.Fatalf("Terminate = %v, %v; want not allowed %v", notAllowed, err, tt.wantNotAllowed)
			}
			if tt.wantValid {
				// Ended here: refused here from now on.
				if terminated, _ := m.Validate(sid); !terminated {
					t.Fatal("Validate after Terminate: not terminated")
				}
				if tt.store.Owner(sid) != nil {
					t.Fatal("the owner is still recorded after Terminate")
				}
			}
		})
	}
}

// TestAdoptHoldsASlot: an adopted session holds one sessions unit until it
// ends or its GET stream's registration closes; adopting twice holds one;
// past the limit adoption is refused; idle adopted sessions are found.
func TestAdoptHoldsASlot(t *testing.T) {
	tests := []struct {
		name   string
		finish func(st *Store, sid string)
	}{
		{"end", func(st *Store, sid string) { st.End(sid) }},
		{"close", func(st *Store, sid string) { st.Close(sid) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			minter := newTestStore()
			st := newTestStore()
			u := &units{max: 1}
			sid1, sid2 := minter.ids.Mint(sidAlice, time.Now()), minter.ids.Mint(sidAlice, time.Now())
			if !st.Adopt(sid1, sidAlice, u.reserve) {
				t.Fatal("adopt: refused")
			}
			if !st.Adopt(sid1, sidAlice, u.reserve) {
				t.Fatal("adopting again: refused")
			}
			if u.held != 1 {
				t.Fatalf("held %d units, want 1", u.held)
			}
			if st.Adopt(sid2, sidAlice, u.reserve) {
				t.Fatal("adopting past the limit: adopted")
			}
			if st.Owner(sid2) != nil {
				t.Fatal("a refused adoption recorded its owner")
			}
			if got := st.IdleAdopted(time.Now().Add(time.Hour)); got[sid1] == nil || len(got) != 1 {
				t.Fatalf("IdleAdopted = %v, want %s", got, sid1)
			}
			if got := st.IdleAdopted(time.Now().Add(-time.Hour)); len(got) != 0 {
				t.Fatalf("IdleAdopted before adoption = %v, want none", got)
			}
			if got := st.Unused(time.Now().Add(time.Hour)); len(got) != 0 {
				t.Fatalf("an adopted session counts as unused after initialize: %v", got)
			}
			tt.finish(st, sid1)
			if u.held != 0 {
				t.Fatalf("held %d units after %s, want 0", u.held, tt.name)
			}
			if !st.Adopt(sid2, sidAlice, u.reserve) {
				t.Fatal("adopting after the first ended: refused")
			}
		})
	}
}

// TestSessionRefusals: an ID that verifies for its owner is refused (as
// unknown) by a host once it is past the max age, issued too far in the
// future, ended there, or issued at or before the ended sessions' floor;
// a session the transport terminates outside a request is ended, unless
// the host is stopping, when it is only forgotten (it continues
// elsewhere).
func TestSessionRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		issued  time.Time
		prepare func(st *Store, sid string)
		want    bool // refused
	}{
		{name: "fresh", issued: now},
		{name: "just within the max age", issued: now.Add(-time.Hour + time.Second)},
		{name: "at the max age", issued: now.Add(-time.Hour), want: true},
		{name: "past the max age", issued: now.Add(-25 * time.Hour), want: true},
		{name: "issued within the clock skew ahead", issued: now.Add(clockSkew)},
		{name: "issued too far in the future", issued: now.Add(clockSkew + time.Second), want: true},
		{name: "ended here", issued: now, prepare: func(st *Store, sid string) { st.End(sid) }, want: true},
		{name: "ended by mcp-go's sweeper", issued: now, prepare: func(st *Store, sid string) {
			st.Manager(nil, nil).Terminate(sid)
		}, want: true},
		{name: "closed by mcp-go at shutdown", issued: now, prepare: func(st *Store, sid string) {
			st.Stop()
			st.Manager(nil, nil).Terminate(sid)
		}},
		{name: "closed (its GET stream ended)", issued: now, prepare: func(st *Store, sid string) { st.Close(sid) }},
		{name: "under the floor", issued: now.Add(-time.Minute), prepare: func(st *Store, _ string) {
			st.ended.RaiseFloor(now.Add(-time.Minute))
		}, want: true},
		{name: "above the floor", issued: now.Add(-time.Minute), prepare: func(st *Store, _ string) {
			st.ended.RaiseFloor(now.Add(-time.Minute - time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := New(Config{Key: testSessionKey, MaxAge: time.Hour, Now: func() time.Time { return now }})
			sid := st.ids.Mint(sidAlice, tt.issued)
			if tt.prepare != nil {
				tt.prepare(st, sid)
			}
			if got := st.Refused(sid); got != tt.want {
				t.Fatalf("Refused = %v, want %v", got, tt.want)
			}
			terminated, err := st.Manager(sidAlice, nil).Validate(sid)
			if err != nil || terminated != tt.want {
				t.Fatalf("Validate = %v, %v; want terminated %v", terminated, err, tt.want)
			}
		})
	}
}
