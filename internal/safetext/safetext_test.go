package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{name: "short", in: "hello", n: 16, want: "hello"},
		{name: "exactly at the bound", in: "abcd", n: 4, want: "abcd"},
		{name: "over the bound", in: "abcdefgh", n: 6, want: "abc…"},
		{name: "never inside a character", in: "ééééé", n: 8, want: "éé…"},
		{name: "control characters kept", in: "a\nb\x1bc", n: 16, want: "a\nb\x1bc"},
		{name: "bound below the marker", in: "abcdef", n: 2, want: "ab"},
		{name: "zero bound", in: "abc", n: 0, want: ""},
		{name: "empty", in: "", n: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Cut(tt.in, tt.n)
			if got != tt.want {
				t.Errorf("Cut(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
			if len(got) > max(tt.n, 0) || !utf8.ValidString(got) && utf8.ValidString(tt.in) {
				t.Errorf("Cut(%q, %d) = %q: over the bound or not valid UTF-8", tt.in, tt.n, got)
			}
		})
	}
}

func TestShow(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{name: "clean", in: "docs__search", n: 64, want: "docs__search"},
		{name: "terminal title escape", in: "x\x1b]0;pwned\x07y", n: 64, want: "x\ufffd]0;pwned\ufffdy"},
		{name: "C1 control", in: "a\u009bb", n: 64, want: "a\ufffdb"},
		{name: "newline and tab", in: "a\nb\tc", n: 64, want: "a\ufffdb\ufffdc"},
		{name: "bidi override", in: "x\u202ey", n: 64, want: "x\ufffdy"},
		{name: "invalid UTF-8", in: "a\xffb", n: 64, want: "a\ufffdb"},
		{name: "cut with marker inside the bound", in: strings.Repeat("a", 20), n: 10, want: "aaaaaaa…"},
		{name: "replacements count against the bound", in: "\x1b\x1b\x1b\x1b", n: 8, want: "\ufffd…"},
		{name: "exactly fits after replacement", in: "\x1b\x1b", n: 6, want: "\ufffd\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Show(tt.in, tt.n)
			if got != tt.want {
				t.Errorf("Show(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
			if len(got) > tt.n {
				t.Errorf("Show(%q, %d) has %d bytes", tt.in, tt.n, len(got))
			}
		})
	}
}

func TestShowHugeStringIsCheap(t *testing.T) {
	huge := strings.Repeat("\x1b", 4<<20)
	allocs := testing.AllocsPerRun(10, func() {
		if got := Show(huge, 256); len(got) > 256 {
			t.Fatalf("%d bytes", len(got))
		}
	})
	if allocs > 4 {
		t.Errorf("%v allocations per Show of a 4 MiB string", allocs)
	}
}

func TestLog(t *testing.T) {
	if got, want := Log("ééé", 5), "éé…[6 bytes]"; got != want {
		t.Errorf("Log = %q, want %q", got, want)
	}
	if got, want := Log("a\nb", 64), "a\ufffdb"; got != want {
		t.Errorf("Log = %q, want %q", got, want)
	}
}
