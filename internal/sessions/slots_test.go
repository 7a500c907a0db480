package sessions

import (
	"sync"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// TestSlots: the unit an initialize request reserves is given back exactly
// once: by the session it minted when that session is closed or ended, or
// by the request when it minted none.
func TestSlots(t *testing.T) {
	tests := []struct {
		name         string
		run          func(st *Store, slot *Slot)
		wantReleased int
		wantOpen     int // StreamableCount afterwards
	}{
		{name: "no session minted", run: func(_ *Store, slot *Slot) {
			slot.ReleaseUnlessBound()
		}, wantReleased: 1},
		{name: "given back twice", run: func(_ *Store, slot *Slot) {
			slot.ReleaseUnlessBound()
			slot.ReleaseUnlessBound()
		}, wantReleased: 1},
		{name: "held by the session minted", run: func(st *Store, slot *Slot) {
			st.Manager(sidAlice, slot).Generate()
			slot.ReleaseUnlessBound()
		}, wantOpen: 1},
		{name: "the session closed", run: func(st *Store, slot *Slot) {
			sid := st.Manager(sidAlice, slot).Generate()
			slot.ReleaseUnlessBound()
			st.Close(sid)
		}, wantReleased: 1},
		{name: "the session ended", run: func(st *Store, slot *Slot) {
			sid := st.Manager(sidAlice, slot).Generate()
			slot.ReleaseUnlessBound()
			st.End(sid)
			st.End(sid)
		}, wantReleased: 1},
		{name: "given back before a session took it", run: func(st *Store, slot *Slot) {
			slot.ReleaseUnlessBound()
			st.Manager(sidAlice, slot).Generate()
		}, wantReleased: 1},
		{name: "two sessions minted with one slot", run: func(st *Store, slot *Slot) {
			m := st.Manager(sidAlice, slot)
			m.Generate()
			m.Generate()
		}, wantOpen: 1},
		{name: "minted without a caller", run: func(st *Store, slot *Slot) {
			sid := st.Manager(nil, slot).Generate()
			if st.Owner(sid) != nil {
				t.Error("an ID minted without a caller has an owner")
			}
			if _, err := st.Manager(sidAlice, nil).Validate(sid); err == nil {
				t.Error("an ID minted without a caller is valid for alice")
			}
			slot.ReleaseUnlessBound()
		}, wantReleased: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore()
			released := 0
			tt.run(st, NewSlot(func() { released++ }))
			if released != tt.wantReleased {
				t.Errorf("released %d times, want %d", released, tt.wantReleased)
			}
			if n := st.StreamableCount(); n != tt.wantOpen {
				t.Errorf("StreamableCount = %d, want %d", n, tt.wantOpen)
			}
		})
	}
}

// TestExpiringSessions: Unused finds the sessions that saw nothing after
// their initialize, IdleAdopted the adopted ones that saw nothing lately,
// PastMaxAge those past the max age at the store's clock; an SSE session
// (no slot) is in none of them.
func TestExpiringSessions(t *testing.T) {
	now := time.Now()
	clock := now
	st := New(Config{Key: testSessionKey, MaxAge: time.Hour, Now: func() time.Time { return clock }})
	noop := func() {}
	opened := st.Manager(sidAlice, NewSlot(noop)).Generate()
	used := st.Manager(sidAlice, NewSlot(noop)).Generate()
	st.Used(used)
	adopted := New(Config{Key: testSessionKey, MaxAge: time.Hour}).Open(sidBob)
	if !st.Adopt(adopted, sidBob, func() (func(), bool) { return noop, true }) {
		t.Fatal("Adopt refused")
	}
	sse := st.Open(sidCI)

	later := time.Now().Add(time.Minute)
	tests := []struct {
		name string
		got  func() map[string]*identity.Identity
		want map[string]*identity.Identity
	}{
		{"unused, cutoff later", func() map[string]*identity.Identity { return st.Unused(later) },
			map[string]*identity.Identity{opened: sidAlice}},
		{"unused, cutoff before", func() map[string]*identity.Identity { return st.Unused(now.Add(-time.Minute)) },
			map[string]*identity.Identity{}},
		{"idle adopted, cutoff later", func() map[string]*identity.Identity { return st.IdleAdopted(later) },
			map[string]*identity.Identity{adopted: sidBob}},
		{"idle adopted, cutoff before", func() map[string]*identity.Identity { return st.IdleAdopted(now.Add(-time.Minute)) },
			map[string]*identity.Identity{}},
		{"past max age, now", st.PastMaxAge, map[string]*identity.Identity{}},
		{"past max age, an hour on", func() map[string]*identity.Identity {
			clock = now.Add(time.Hour + time.Second)
			defer func() { clock = now }()
			return st.PastMaxAge()
		}, map[string]*identity.Identity{opened: sidAlice, used: sidAlice, adopted: sidBob}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.got()
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for sid, owner := range tt.want {
				if !got[sid].Equal(owner) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
			if _, ok := got[sse]; ok {
				t.Fatal("the SSE session is listed")
			}
		})
	}
}

// TestConcurrentAdoption: requests adopting the same session at once
// take one unit between them, and closing it gives that unit back.
func TestConcurrentAdoption(t *testing.T) {
	sid := New(Config{Key: testSessionKey, MaxAge: time.Hour}).Open(sidAlice)
	st := newTestStore()
	var mu sync.Mutex
	held := 0
	reserve := func() (func(), bool) {
		mu.Lock()
		defer mu.Unlock()
		held++
		return func() {
			mu.Lock()
			defer mu.Unlock()
			held--
		}, true
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if !st.Adopt(sid, sidAlice, reserve) {
				t.Error("Adopt refused")
			}
			st.Used(sid)
			if _, err := st.Manager(sidAlice, nil).Validate(sid); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	if held != 1 {
		t.Errorf("held %d units, want 1", held)
	}
	mu.Unlock()
	st.Close(sid)
	mu.Lock()
	defer mu.Unlock()
	if held != 0 {
		t.Errorf("held %d units after Close, want 0", held)
	}
}
