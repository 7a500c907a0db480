package sessionid

import (
	"encoding/binary"
	"testing"
	"time"
)

func tagOf(s string) Tag {
	var t Tag
	copy(t[:], s)
	return t
}

func TestTombstones(t *testing.T) {
	now := time.Unix(1e9, 0)
	at := func(sec int) time.Time { return now.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		run  func(tb *Tombstones) bool
	}{
		{"remembered until the ID is past its max age", func(tb *Tombstones) bool {
			tb.Add(tagOf("a"), now, now)
			tb.Expire(now.Add(time.Minute - time.Second))
			ok := tb.Has(tagOf("a"), now) && !tb.Has(tagOf("b"), now)
			tb.Expire(now.Add(time.Minute))
			return ok && tb.Len() == 0
		}},
		{"an ID already past its max age is not recorded", func(tb *Tombstones) bool {
			tb.Add(tagOf("a"), now, now.Add(time.Minute))
			return tb.Len() == 0
		}},
		{"past the cap the oldest issue goes and the floor covers it", func(tb *Tombstones) bool {
			tb.Add(tagOf("a"), at(1), now)
			tb.Add(tagOf("b"), at(3), now)
			tb.Add(tagOf("c"), at(2), now)
			tb.Add(tagOf("d"), at(4), now)
			return tb.Len() == 3 && tb.floor == at(1).Unix() &&
				tb.Has(tagOf("a"), at(1)) && tb.Has(tagOf("never ended"), at(1)) && tb.Has(tagOf("never ended"), at(0)) &&
				!tb.Has(tagOf("never ended"), at(2)) && tb.Has(tagOf("b"), at(3)) && tb.Has(tagOf("d"), at(4))
		}},
		{"an ID under the floor is not recorded one by one", func(tb *Tombstones) bool {
			tb.RaiseFloor(at(5))
			tb.Add(tagOf("a"), at(5), now)
			return tb.Len() == 0 && tb.Has(tagOf("a"), at(5))
		}},
		{"adding twice keeps one", func(tb *Tombstones) bool {
			tb.Add(tagOf("a"), now, now)
			tb.Add(tagOf("a"), now, now)
			return tb.Len() == 1 && len(tb.byAge) == 1
		}},
		{"bounded under churn", func(tb *Tombstones) bool {
			for i := range 10000 {
				var tag Tag
				binary.BigEndian.PutUint64(tag[:], uint64(i))
				tb.Add(tag, at(i%50), now)
			}
			return tb.Len() == 3 && len(tb.byAge) == 3 && tb.floor == at(49).Unix()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.run(NewTombstones(3, time.Minute)) {
				t.Fatal("failed")
			}
		})
	}
}

// TestTombstoneRecord: the record written to the state store restores the
// same refusals; what a limit or a max age leaves out is covered by its
// floor (so a host restoring it with a larger max age refuses it too); a
// malformed record is an error and changes nothing.
func TestTombstoneRecord(t *testing.T) {
	now := time.Unix(1e9, 0)
	at := func(sec int) time.Time { return now.Add(time.Duration(sec) * time.Second) }
	src := NewTombstones(10, time.Hour)
	src.Add(tagOf("a"), at(-30), now)
	src.Add(tagOf("b"), at(-20), now)
	src.Add(tagOf("c"), at(-10), now)

	t.Run("round trip", func(t *testing.T) {
		dst := NewTombstones(10, time.Hour)
		if err := dst.Restore(src.Marshal(now, 10), now); err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct {
			tag string
			sec int
		}{{"a", -30}, {"b", -20}, {"c", -10}} {
			if !dst.Has(tagOf(e.tag), at(e.sec)) {
				t.Errorf("%s not refused after restore", e.tag)
			}
		}
		if dst.Has(tagOf("never ended"), at(-29)) {
			t.Error("an ID never ended is refused after restore")
		}
	})
	t.Run("a limit keeps the newest and floors the rest", func(t *testing.T) {
		dst := NewTombstones(10, time.Hour)
		if err := dst.Restore(src.Marshal(now, 2), now); err != nil {
			t.Fatal(err)
		}
		if dst.Len() != 2 || !dst.Has(tagOf("a"), at(-30)) || !dst.Has(tagOf("c"), at(-10)) || dst.Has(tagOf("never ended"), at(-29)) {
			t.Errorf("restored %d entries, floor %d; want b and c, and a under the floor", dst.Len(), dst.floor-now.Unix())
		}
	})
	t.Run("a larger max age after restore still refuses what expired", func(t *testing.T) {
		dst := NewTombstones(10, 48*time.Hour)
		if err := dst.Restore(src.Marshal(now, 10), now); err != nil {
			t.Fatal(err)
		}
		if !dst.Has(tagOf("long gone"), now.Add(-2*time.Hour)) {
			t.Error("an ID past the old max age is not refused under a larger one")
		}
	})
	good := src.Marshal(now, 10)
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{2}, good[1:]...)},
		{"truncated header", good[:5]},
		{"truncated entry", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"count larger than the entries", func() []byte {
			b := append([]byte(nil), good...)
			binary.BigEndian.PutUint32(b[9:13], 4)
			return b
		}()},
		{"negative floor", func() []byte {
			b := append([]byte(nil), good...)
			b[1] = 0x80
			return b
		}()},
	} {
		t.Run("malformed: "+tt.name, func(t *testing.T) {
			dst := NewTombstones(10, time.Hour)
			if err := dst.Restore(tt.b, now); err == nil {
				t.Fatal("no error")
			}
			if dst.Len() != 0 || dst.floor != 0 {
				t.Fatalf("changed by a malformed record: %d entries, floor %d", dst.Len(), dst.floor)
			}
		})
	}
}
