package server

import "unicode/utf8"

// maxAuditName bounds a caller-controlled name or URI in an audit line.
const maxAuditName = 256

// auditName bounds a caller-controlled name or URI for an audit line: at
// most maxAuditName bytes, cut on a rune boundary and marked with "…".
// (The encoder escapes control characters; see log/slog's JSON handler.)
func auditName(s string) string {
	if len(s) <= maxAuditName {
		return s
	}
	cut := maxAuditName
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
