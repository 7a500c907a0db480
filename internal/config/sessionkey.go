package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinSessionKeyBytes is the least key material mcp.session_key may hold.
const MinSessionKeyBytes = 32

// DefaultSessionMaxAge is mcp.session_max_age's default.
const DefaultSessionMaxAge = 24 * time.Hour

// errSessionKeyEncoding is the problem of a session key that is neither
// hex nor base64. It never includes the value.
var errSessionKeyEncoding = fmt.Errorf("must be %d or more hex digits, or base64 (standard or URL alphabet) of %d or more bytes; the value is not shown",
	2*MinSessionKeyBytes, MinSessionKeyBytes)

// ParseSessionKey decodes mcp.session_key: 64 or more hex digits (an even
// number; a value made only of hex digits is always read as hex), or base64 in the standard or URL alphabet, padded or not, of at
// least MinSessionKeyBytes bytes. Surrounding white space (a trailing
// newline from a mounted secret file) is ignored. Empty returns nil and no
// error (a random key per process). Errors never include the value.
func ParseSessionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if isHex(s) {
		// Hex digits are base64 too; read as hex, a short one must not
		// pass as base64 of more bytes than its entropy.
		if len(s) < 2*MinSessionKeyBytes {
			return nil, fmt.Errorf("has %d hex digits, fewer than the %d required; the value is not shown", len(s), 2*MinSessionKeyBytes)
		}
		if len(s)%2 != 0 {
			return nil, errors.New("has an odd number of hex digits; the value is not shown")
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, errSessionKeyEncoding
		}
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) < MinSessionKeyBytes {
			return nil, fmt.Errorf("decodes to %d bytes, fewer than the %d required; the value is not shown", len(b), MinSessionKeyBytes)
		}
		return b, nil
	}
	return nil, errSessionKeyEncoding
}

// isHex reports whether s holds only hex digits.
func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
