package server

import "time"

// maxTombstones bounds the session IDs a host remembers as ended: about
// 100 bytes each, so at most a few MB.
const maxTombstones = 32768

// tombstones remembers the session IDs ended on this host, so that a
// session ID stays refused here after its DELETE or expiry although its
// MAC still verifies for its owner. Each is kept for ttl, and at most max
// are kept (the oldest go first). Forgetting one early lets only the
// session's own owner resume that session on this host, never anyone else.
// Not safe for concurrent use: sessionStore.mu guards it.
type tombstones struct {
	max   int
	ttl   time.Duration
	at    map[string]time.Time
	order []string // insertion order; may hold IDs already dropped
}

func newTombstones(max int, ttl time.Duration) *tombstones {
	return &tombstones{max: max, ttl: ttl, at: map[string]time.Time{}}
}

// add records sid as ended at now.
func (t *tombstones) add(sid string, now time.Time) {
	t.expire(now)
	if _, ok := t.at[sid]; ok {
		return
	}
	for len(t.at) >= t.max {
		t.dropOldest()
	}
	t.at[sid] = now
	t.order = append(t.order, sid)
}

// has reports whether sid was ended less than ttl before now.
func (t *tombstones) has(sid string, now time.Time) bool {
	at, ok := t.at[sid]
	return ok && now.Sub(at) < t.ttl
}

// expire drops the entries older than ttl.
func (t *tombstones) expire(now time.Time) {
	for len(t.order) > 0 {
		at, ok := t.at[t.order[0]]
		if ok && now.Sub(at) < t.ttl {
			return
		}
		t.dropOldest()
	}
}

// dropOldest drops the oldest entry.
func (t *tombstones) dropOldest() {
	if len(t.order) == 0 {
		return
	}
	delete(t.at, t.order[0])
	t.order[0] = ""
	t.order = t.order[1:]
	if cap(t.order) > 2*t.max && len(t.order) < t.max {
		t.order = append([]string(nil), t.order...) // let the old array go
	}
}

// len returns how many IDs are remembered.
func (t *tombstones) len() int { return len(t.at) }
