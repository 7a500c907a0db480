package server

import (
	"strings"
	"testing"
)

func TestBounded(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{name: "short clean", in: "docs__search", n: 128, want: "docs__search"},
		{name: "exactly at the bound", in: strings.Repeat("a", 8), n: 8, want: strings.Repeat("a", 8)},
		{name: "over the bound", in: strings.Repeat("a", 9), n: 8, want: "aaaaaaaa…[9 bytes]"},
		{name: "newline and escape", in: "a\nb\x1b[0m", n: 128, want: "a\ufffdb\ufffd[0m"},
		{name: "bidi override and zero width", in: "x\u202ey\u200bz", n: 128, want: "x\ufffdy\ufffdz"},
		{name: "line separators", in: "a\u2028b\u2029c", n: 128, want: "a\ufffdb\ufffdc"},
		{name: "invalid UTF-8", in: "a\xffb", n: 128, want: "a\ufffdb"},
		{name: "literal replacement character kept", in: "a\ufffdb", n: 128, want: "a\ufffdb"},
		{name: "cut on a rune boundary", in: "ééé", n: 5, want: "éé…[6 bytes]"},
		{name: "empty", in: "", n: 128, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := boundedN(tt.in, tt.n); got != tt.want {
				t.Errorf("boundedN(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func BenchmarkBoundedHuge(b *testing.B) {
	s := strings.Repeat("A", 3<<20)
	for b.Loop() {
		if len(bounded(s)) > 200 {
			b.Fatal("not bounded")
		}
	}
}
