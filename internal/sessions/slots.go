package sessions

import (
	"sync/atomic"
	"time"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// Slot is one unit of mcp.limits.sessions_* reserved by a request carrying
// initialize. The session that request mints (Manager.Generate) keeps it
// until the session is closed or ended; a request that mints none gives it
// back with ReleaseUnlessBound when it returns. The zero Slot is not
// usable: use NewSlot.
type Slot struct {
	release func()
	bound   atomic.Bool // a session holds the slot, or it was given back

	// Guarded by Store.mu once bound.
	opened   time.Time
	inUse    bool      // the session has seen a request after initialize
	adopted  bool      // minted by another host, adopted here (see Adopt)
	lastSeen time.Time // adopted sessions: when it last saw a request
}

// NewSlot returns a free slot; release gives its unit back, exactly once:
// when the session holding it is closed or ended, or from
// ReleaseUnlessBound if no session took it.
func NewSlot(release func()) *Slot {
	return &Slot{release: release}
}

// ReleaseUnlessBound gives the slot back if no session took it; after it,
// no session can.
func (sl *Slot) ReleaseUnlessBound() {
	if sl.bound.CompareAndSwap(false, true) {
		sl.release()
	}
}

// bind gives sid the slot, if it is still free.
func (st *Store) bind(sid string, slot *Slot) {
	if slot == nil || !slot.bound.CompareAndSwap(false, true) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	slot.opened = time.Now()
	st.slots[sid] = slot
}

// releaseSlotLocked gives back sid's slot, if it has one. Called with
// st.mu held.
func (st *Store) releaseSlotLocked(sid string) {
	if slot := st.slots[sid]; slot != nil {
		delete(st.slots, sid)
		slot.release()
	}
}

// Used marks sid as in use: it has seen a request after initialize. An
// adopted session's idle time starts again. A session without a Slot is
// left alone.
func (st *Store) Used(sid string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if slot := st.slots[sid]; slot != nil {
		slot.inUse = true
		if slot.adopted {
			slot.lastSeen = time.Now()
		}
	}
}

// PastMaxAge returns the Streamable HTTP sessions whose IDs are past their
// max age now, with their owners (nil for a session bound with no owner).
func (st *Store) PastMaxAge() map[string]*identity.Identity {
	now := st.now()
	return st.slotted(func(sid string, _ *Slot) bool { return st.expired(sid, now) })
}

// Unused returns the sessions opened before cutoff that have seen no
// request after their initialize, with their owners.
func (st *Store) Unused(cutoff time.Time) map[string]*identity.Identity {
	return st.slotted(func(_ string, slot *Slot) bool { return !slot.inUse && slot.opened.Before(cutoff) })
}

// slotted returns the sessions holding a slot for which match is true,
// with their owners; match runs with st.mu held.
func (st *Store) slotted(match func(sid string, slot *Slot) bool) map[string]*identity.Identity {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]*identity.Identity{}
	for sid, slot := range st.slots {
		if match(sid, slot) {
			out[sid] = st.owners[sid]
		}
	}
	return out
}

// Adopt makes this host serve sid, a session minted for owner by another
// host sharing the key; the caller has checked that sid verifies for
// owner and is not Refused. It takes a unit of mcp.limits.sessions_* for
// it by calling reserve, with the store locked (an adopted session counts
// against this host's limits like one opened here): reserve returns the
// func that gives the unit back, or false when none is left, and then Adopt
// returns false and records nothing. A session already served here (a
// concurrent request adopted it) is not reserved again, and Adopt returns
// true.
//
// The session ends as one opened here does, or when it sees no request
// for a while (see IdleAdopted), or is closed when the GET stream that
// registered it with the transport closes (it is then adopted again by
// its next request).
func (st *Store) Adopt(sid string, owner *identity.Identity, reserve func() (release func(), ok bool)) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.owners[sid] != nil {
		return true // adopted by a concurrent request
	}
	release, ok := reserve()
	if !ok {
		return false
	}
	now := time.Now()
	slot := &Slot{release: release, opened: now, inUse: true, adopted: true, lastSeen: now}
	slot.bound.Store(true)
	st.owners[sid] = owner
	st.slots[sid] = slot
	return true
}

// IdleAdopted returns the adopted sessions that have seen no request since
// cutoff, with their owners.
func (st *Store) IdleAdopted(cutoff time.Time) map[string]*identity.Identity {
	return st.slotted(func(_ string, slot *Slot) bool { return slot.adopted && slot.lastSeen.Before(cutoff) })
}
