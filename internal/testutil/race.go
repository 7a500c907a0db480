package testutil

import "testing"

// SkipAllocsUnderRace skips an allocation count under the race detector,
// whose sync.Pool drops a quarter of what is put back at random (so a
// pooled buffer, such as encoding/json's scanner, is allocated again now
// and then). .ci/run runs these tests again without -race, where they
// count.
func SkipAllocsUnderRace(t testing.TB) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items at random); .ci/run counts them without it")
	}
}
