package server

import (
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// The keys and callers of the session store's unit tests (the session IDs'
// own tests are in internal/sessionid).
var (
	testSessionKey  = []byte("0123456789abcdef0123456789abcdef")
	otherSessionKey = []byte("fedcba9876543210fedcba9876543210")

	sidAlice = &identity.Identity{LoginName: "alice@example.com", NodeID: "nAlice1", NodeName: "laptop"}
	sidBob   = &identity.Identity{LoginName: "bob@example.com", NodeID: "nBob", NodeName: "bob"}
	sidCI    = &identity.Identity{NodeID: "nCI", NodeName: "ci", Tags: []string{"tag:ci"}}
)

// TestBoundSessionsAcrossReplicas: the SessionIdManager of a host that
// never minted an ID validates and terminates it for its owner only,
// refuses it once ended there, and refuses another key's IDs.
func TestBoundSessionsAcrossReplicas(t *testing.T) {
	a, b := newSessionStore(testSessionKey, time.Hour), newSessionStore(testSessionKey, time.Hour)
	other := newSessionStore(otherSessionKey, time.Hour)
	mgr := func(st *sessionStore, caller *identity.Identity) *boundSessions {
		return &boundSessions{store: st, caller: caller}
	}
	tests := []struct {
		name           string
		store          *sessionStore
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
			sid := a.open(sidAlice)
			m := mgr(tt.store, tt.caller)
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
				if tt.store.owner(sid) != nil {
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
		finish func(st *sessionStore, sid string)
	}{
		{"end", func(st *sessionStore, sid string) { st.end(sid) }},
		{"close", func(st *sessionStore, sid string) { st.close(sid) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			minter := newSessionStore(testSessionKey, time.Hour)
			st := newSessionStore(testSessionKey, time.Hour)
			c := newCounter("sessions", 1, 10)
			sid1, sid2 := minter.ids.Mint(sidAlice, time.Now()), minter.ids.Mint(sidAlice, time.Now())
			if ref := st.adopt(sid1, sidAlice, c); ref != nil {
				t.Fatalf("adopt: %+v", ref)
			}
			if ref := st.adopt(sid1, sidAlice, c); ref != nil {
				t.Fatalf("adopting again: %+v", ref)
			}
			if mine, _ := c.held(sidAlice.Key()); mine != 1 {
				t.Fatalf("held %d units, want 1", mine)
			}
			if ref := st.adopt(sid2, sidAlice, c); ref == nil || ref.status != 429 {
				t.Fatalf("adopting past the limit: %+v, want a 429 refusal", ref)
			}
			if got := st.idleAdopted(time.Now().Add(time.Hour)); got[sid1] == nil || len(got) != 1 {
				t.Fatalf("idleAdopted = %v, want %s", got, sid1)
			}
			if got := st.idleAdopted(time.Now().Add(-time.Hour)); len(got) != 0 {
				t.Fatalf("idleAdopted before adoption = %v, want none", got)
			}
			if got := st.unused(time.Now().Add(time.Hour)); len(got) != 0 {
				t.Fatalf("an adopted session counts as unused after initialize: %v", got)
			}
			tt.finish(st, sid1)
			if mine, _ := c.held(sidAlice.Key()); mine != 0 {
				t.Fatalf("held %d units after %s, want 0", mine, tt.name)
			}
			if ref := st.adopt(sid2, sidAlice, c); ref != nil {
				t.Fatalf("adopting after the first ended: %+v", ref)
			}
		})
	}
}

// TestSessionRefusals: an ID that verifies for its owner is refused (as
// unknown) by a host once it is past the max age, issued too far in the
// future, ended there, or issued at or before the ended sessions' floor;
// a session mcp-go terminates outside a request is ended, unless the host
// is stopping, when it is only forgotten (it continues elsewhere).
func TestSessionRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name    string
		issued  time.Time
		prepare func(st *sessionStore, sid string)
		want    bool // refused
	}{
		{name: "fresh", issued: now},
		{name: "just within the max age", issued: now.Add(-time.Hour + time.Second)},
		{name: "at the max age", issued: now.Add(-time.Hour), want: true},
		{name: "past the max age", issued: now.Add(-25 * time.Hour), want: true},
		{name: "issued within the clock skew ahead", issued: now.Add(sessionClockSkew)},
		{name: "issued too far in the future", issued: now.Add(sessionClockSkew + time.Second), want: true},
		{name: "ended here", issued: now, prepare: func(st *sessionStore, sid string) { st.end(sid) }, want: true},
		{name: "ended by mcp-go's sweeper", issued: now, prepare: func(st *sessionStore, sid string) {
			(&boundSessions{store: st}).Terminate(sid)
		}, want: true},
		{name: "closed by mcp-go at shutdown", issued: now, prepare: func(st *sessionStore, sid string) {
			st.stop()
			(&boundSessions{store: st}).Terminate(sid)
		}},
		{name: "closed (its GET stream ended)", issued: now, prepare: func(st *sessionStore, sid string) { st.close(sid) }},
		{name: "under the floor", issued: now.Add(-time.Minute), prepare: func(st *sessionStore, _ string) {
			st.ended.RaiseFloor(now.Add(-time.Minute))
		}, want: true},
		{name: "above the floor", issued: now.Add(-time.Minute), prepare: func(st *sessionStore, _ string) {
			st.ended.RaiseFloor(now.Add(-time.Minute - time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSessionStore(testSessionKey, time.Hour)
			st.now = func() time.Time { return now }
			sid := st.ids.Mint(sidAlice, tt.issued)
			if tt.prepare != nil {
				tt.prepare(st, sid)
			}
			if got := st.refused(sid); got != tt.want {
				t.Fatalf("refused = %v, want %v", got, tt.want)
			}
			terminated, err := (&boundSessions{store: st, caller: sidAlice}).Validate(sid)
			if err != nil || terminated != tt.want {
				t.Fatalf("Validate = %v, %v; want terminated %v", terminated, err, tt.want)
			}
		})
	}
}
