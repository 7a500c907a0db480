package sessionid

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// Tombstones remembers the session IDs ended on a host (DELETE, idle or
// unused expiry), so that such an ID stays refused here although its MAC
// still verifies for its owner. An entry is kept until its ID is past
// mcp.session_max_age (maxAge), when the ID is refused for its age anyway.
// Entries are named by Tag and issue time (see Facts).
//
// At most max are kept. Past that the entry with the oldest issue time
// goes and the floor rises to that time: every ID issued at or before the
// floor counts as ended. So forgetting an entry never lets its ID back; it
// only makes older IDs, ended or not, unadoptable here (fail closed).
//
// Not safe for concurrent use: its user guards it with a mutex. The zero
// Tombstones is not usable: use NewTombstones.
type Tombstones struct {
	max    int
	maxAge time.Duration
	floor  int64 // Unix seconds; IDs issued at or before it are ended
	at     map[Tag]int64
	byAge  tombHeap // the entries of at, oldest issue time first
}

// tombstone is one ended ID: its tag and issue time (Unix seconds).
type tombstone struct {
	tag    Tag
	issued int64
}

// NewTombstones returns an empty set keeping at most max entries (max must
// be positive), each until its ID is past maxAge.
func NewTombstones(max int, maxAge time.Duration) *Tombstones {
	return &Tombstones{max: max, maxAge: maxAge, at: map[Tag]int64{}}
}

// Add records the ID with tag, issued at issued, as ended.
func (t *Tombstones) Add(tag Tag, issued time.Time, now time.Time) {
	t.Expire(now)
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

// Has reports whether the ID with tag, issued at issued, was ended here.
func (t *Tombstones) Has(tag Tag, issued time.Time) bool {
	sec := issued.Unix()
	if sec <= t.floor {
		return true
	}
	_, ok := t.at[tag]
	return ok
}

// past reports whether an ID issued at sec is past maxAge at now.
func (t *Tombstones) past(sec int64, now time.Time) bool {
	return !time.Unix(sec, 0).Add(t.maxAge).After(now)
}

// Expire drops the entries whose IDs are past maxAge.
func (t *Tombstones) Expire(now time.Time) {
	for len(t.byAge) > 0 && t.past(t.byAge[0].issued, now) {
		old := heap.Pop(&t.byAge).(tombstone)
		delete(t.at, old.tag)
	}
}

// Len returns how many IDs are remembered one by one.
func (t *Tombstones) Len() int { return len(t.at) }

// RaiseFloor makes every ID issued at or before at (whole seconds) count
// as ended.
func (t *Tombstones) RaiseFloor(at time.Time) { t.floor = max(t.floor, at.Unix()) }

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

// Marshal returns the record of at most limit entries, the newest by issue
// time. Its floor covers what it leaves out: the entries dropped for the
// limit and every ID already past maxAge (whose entries are gone), so
// that a host restoring it with a larger maxAge refuses them too.
func (t *Tombstones) Marshal(now time.Time, limit int) []byte {
	t.Expire(now)
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

// Restore adds a record Marshal wrote to t. A malformed record changes
// nothing and is an error.
func (t *Tombstones) Restore(b []byte, now time.Time) error {
	if len(b) < tombRecordHeader || b[0] != tombRecordVersion {
		return errTombRecord
	}
	floor := int64(binary.BigEndian.Uint64(b[1:9]))
	n := binary.BigEndian.Uint32(b[9:13])
	body := b[tombRecordHeader:]
	if uint64(len(body)) != uint64(n)*tombRecordEntry || floor < 0 {
		return errTombRecord
	}
	t.RaiseFloor(time.Unix(floor, 0))
	for i := range int(n) {
		e := body[i*tombRecordEntry:]
		var tag Tag
		copy(tag[:], e[:8])
		t.Add(tag, time.Unix(int64(binary.BigEndian.Uint64(e[8:16])), 0), now)
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
