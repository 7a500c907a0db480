package server

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// maxTombstones bounds the session IDs a host remembers as ended: 16 bytes
// each in the records, a few MB at most in memory.
const maxTombstones = 32768

// tombstones remembers the session IDs ended on this host (DELETE, idle or
// unused expiry), so that such an ID stays refused here although its MAC
// still verifies for its owner. An entry is kept until its ID is past
// mcp.session_max_age (maxAge), when the ID is refused for its age anyway.
//
// At most max are kept. Past that the entry with the oldest issue time
// goes and the floor rises to that time: every ID issued at or before the
// floor counts as ended. So forgetting an entry never lets its ID back; it
// only makes older IDs, ended or not, unadoptable here (fail closed).
//
// Not safe for concurrent use: sessionStore.mu guards it.
type tombstones struct {
	max    int
	maxAge time.Duration
	floor  int64 // Unix seconds; IDs issued at or before it are ended
	at     map[sessionTag]int64
	byAge  tombHeap // the entries of at, oldest issue time first
}

// tombstone is one ended ID: its tag and issue time (Unix seconds).
type tombstone struct {
	tag    sessionTag
	issued int64
}

func newTombstones(max int, maxAge time.Duration) *tombstones {
	return &tombstones{max: max, maxAge: maxAge, at: map[sessionTag]int64{}}
}

// add records the ID with tag, issued at issued, as ended.
func (t *tombstones) add(tag sessionTag, issued time.Time, now time.Time) {
	t.expire(now)
	sec := issued.Unix()
	if _, ok := t.at[tag]; ok || sec <= t.floor || t.past(sec, now) {
		return
	}
	for len(t.at) >= t.max {
		old := heap.Pop(&t.byAge).(tombstone)
		delete(t.at, old.tag)
		t.floor = max(t.floor, old.issued)
	}
	t.at[tag] = sec
	heap.Push(&t.byAge, tombstone{tag: tag, issued: sec})
}

// has reports whether the ID with tag, issued at issued, was ended here.
func (t *tombstones) has(tag sessionTag, issued time.Time) bool {
	sec := issued.Unix()
	if sec <= t.floor {
		return true
	}
	_, ok := t.at[tag]
	return ok
}

// past reports whether an ID issued at sec is past maxAge at now.
func (t *tombstones) past(sec int64, now time.Time) bool {
	return !time.Unix(sec, 0).Add(t.maxAge).After(now)
}

// expire drops the entries whose IDs are past maxAge.
func (t *tombstones) expire(now time.Time) {
	for len(t.byAge) > 0 && t.past(t.byAge[0].issued, now) {
		old := heap.Pop(&t.byAge).(tombstone)
		delete(t.at, old.tag)
	}
}

// len returns how many IDs are remembered one by one.
func (t *tombstones) len() int { return len(t.at) }

// raiseFloor makes every ID issued at or before sec count as ended.
func (t *tombstones) raiseFloor(sec int64) { t.floor = max(t.floor, sec) }

// The record of the ended sessions, as kept in the node's state store:
//
//	version[1] = 1 || floor[8] || count[4] || count × (tag[8] || issued[8])
//
// big-endian; floor and issued are Unix seconds.
const (
	tombRecordVersion = 1
	tombRecordHeader  = 1 + 8 + 4
	tombRecordEntry   = 8 + 8
)

var errTombRecord = errors.New("malformed record of ended sessions")

// marshal returns the record of at most limit entries, the newest by issue
// time. Its floor covers what it leaves out: the entries dropped for the
// limit and every ID already past maxAge (whose entries are gone), so
// that a host restoring it with a larger maxAge refuses them too.
func (t *tombstones) marshal(now time.Time, limit int) []byte {
	t.expire(now)
	entries := slices.Clone([]tombstone(t.byAge))
	slices.SortFunc(entries, func(a, b tombstone) int { return cmp.Compare(b.issued, a.issued) })
	floor := max(t.floor, now.Add(-t.maxAge).Unix())
	if len(entries) > limit {
		for _, e := range entries[limit:] {
			floor = max(floor, e.issued)
		}
		entries = entries[:limit]
	}
	b := make([]byte, 0, tombRecordHeader+len(entries)*tombRecordEntry)
	b = append(b, tombRecordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(floor))
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.tag[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.issued))
	}
	return b
}

// restore adds a record marshal wrote to t. A malformed record changes
// nothing and is an error.
func (t *tombstones) restore(b []byte, now time.Time) error {
	if len(b) < tombRecordHeader || b[0] != tombRecordVersion {
		return errTombRecord
	}
	floor := int64(binary.BigEndian.Uint64(b[1:9]))
	n := binary.BigEndian.Uint32(b[9:13])
	body := b[tombRecordHeader:]
	if uint64(len(body)) != uint64(n)*tombRecordEntry || floor < 0 {
		return errTombRecord
	}
	t.raiseFloor(floor)
	for i := range int(n) {
		e := body[i*tombRecordEntry:]
		var tag sessionTag
		copy(tag[:], e[:8])
		t.add(tag, time.Unix(int64(binary.BigEndian.Uint64(e[8:16])), 0), now)
	}
	return nil
}

// tombHeap is a min-heap of tombstones by issue time (container/heap).
type tombHeap []tombstone

func (h tombHeap) Len() int           { return len(h) }
func (h tombHeap) Less(i, j int) bool { return h[i].issued < h[j].issued }
func (h tombHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tombHeap) Push(x any)        { *h = append(*h, x.(tombstone)) }
func (h *tombHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
