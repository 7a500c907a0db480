// Package safetext bounds text that others supplied (upstreams, callers,
// the tailnet) before tsmcp passes it on or writes it for people: cut on a
// UTF-8 character boundary, and, where people read it (pages, terminals,
// log lines), without control or formatting characters.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis ends a string that Cut or Show shortened.
const Ellipsis = "…"

// Cut returns s when it has at most n bytes; otherwise the longest prefix
// of s that ends on a character boundary and leaves room for Ellipsis
// within n bytes, followed by Ellipsis (for n below len(Ellipsis), the
// prefix alone). The text itself is kept as is: Cut is for data passed on
// (a description a client shows as it likes), Show for text tsmcp writes
// for people. The result never shares memory with a cut s.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	marker := Ellipsis
	if n < len(Ellipsis) {
		marker = ""
	}
	m := n - len(marker)
	for m > 0 && !utf8.RuneStart(s[m]) {
		m--
	}
	return strings.Clone(s[:m]) + marker
}

// Show returns s fit for people to read in at most n bytes: each control
// or formatting character (C0 and C1 controls such as ESC and BEL,
// newlines, bidirectional overrides, zero-width marks, line and paragraph
// separators) and each invalid UTF-8 byte replaced by U+FFFD, so the text
// can neither drive a terminal nor read as something else; when that does
// not fit in n bytes, it is cut on a character boundary and ends with
// Ellipsis (counted in n). Only about n bytes of s are examined, so a
// megabyte string costs no more than a short one.
func Show(s string, n int) string {
	out, all := clean(s, n)
	if all {
		return out
	}
	if n < len(Ellipsis) {
		return out
	}
	out, _ = clean(s, n-len(Ellipsis))
	return out + Ellipsis
}

// Log is Show for log lines: a cut string ends with "…[N bytes]", N being
// the original length, after at most n bytes of the text (the marker is
// not counted in n).
func Log(s string, n int) string {
	out, all := clean(s, n)
	if all {
		return out
	}
	return out + "…[" + strconv.Itoa(len(s)) + " bytes]"
}

// clean returns the longest prefix of s whose cleaned form (see Show) fits
// in n bytes, cleaned, and whether that is all of s. When s is already
// clean and short enough it is returned as is, without allocating.
func clean(s string, n int) (string, bool) {
	isClean := true
	for i := 0; i < len(s) && i <= n; {
		r, size := utf8.DecodeRuneInString(s[i:])
		if Unsafe(r, size) {
			isClean = false
			break
		}
		i += size
	}
	if isClean && len(s) <= n {
		return s, true
	}
	var b strings.Builder
	b.Grow(min(len(s), n))
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		out := s[i : i+size]
		if Unsafe(r, size) {
			out = string(utf8.RuneError)
		}
		if b.Len()+len(out) > n {
			break
		}
		b.WriteString(out)
		i += size
	}
	return b.String(), i == len(s)
}

// Unsafe reports whether the rune r, decoded from size bytes, must not
// reach text written for people as is: an invalid UTF-8 byte, a control
// character (C0, DEL, C1), a formatting character (Unicode category Cf:
// bidirectional overrides, zero-width marks), or a line or paragraph
// separator.
func Unsafe(r rune, size int) bool {
	return (r == utf8.RuneError && size <= 1) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029'
}
