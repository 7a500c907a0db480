package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestParseSessionKey(t *testing.T) {
	key32 := bytes.Repeat([]byte{0xa5, 0x5a, 0x01, 0xfe}, 8)
	key48 := bytes.Repeat([]byte{0x3c, 0xc3, 0x7f}, 16)
	tests := []struct {
		name    string
		value   string
		want    []byte // nil with wantErr false: empty (random per process)
		wantErr string // a substring of the error; "" for none
	}{
		{name: "empty", value: ""},
		{name: "blank", value: "  \n"},
		{name: "hex 64 lower", value: fmt.Sprintf("%x", key32), want: key32},
		{name: "hex 64 upper", value: fmt.Sprintf("%X", key32), want: key32},
		{name: "hex with trailing newline", value: fmt.Sprintf("%x\n", key32), want: key32},
		{name: "hex 96", value: fmt.Sprintf("%x", key48), want: key48},
		{name: "base64 std", value: base64.StdEncoding.EncodeToString(key32), want: key32},
		{name: "base64 std unpadded", value: base64.RawStdEncoding.EncodeToString(key32), want: key32},
		{name: "base64 url", value: base64.URLEncoding.EncodeToString(key32), want: key32},
		{name: "base64 url unpadded", value: base64.RawURLEncoding.EncodeToString(key48), want: key48},
		{name: "hex too short", value: fmt.Sprintf("%x", key32[:24]), wantErr: "48 hex digits, fewer than the 64"},
		{name: "hex odd", value: fmt.Sprintf("%x", key32) + "a", wantErr: "odd number of hex digits"},
		{name: "base64 too short", value: base64.StdEncoding.EncodeToString(key32[:31]), wantErr: "decodes to 31 bytes"},
		{name: "neither", value: "correct horse battery staple correct horse battery staple!", wantErr: "must be 64 or more hex digits"},
		{name: "base64 bad padding", value: base64.StdEncoding.EncodeToString(key32)[:43] + "==", wantErr: "must be 64 or more hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSessionKey(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSessionKey error = %v, want one containing %q", err, tt.wantErr)
				}
				if v := strings.TrimSpace(tt.value); len(v) > 8 && strings.Contains(err.Error(), v[:8]) {
					t.Fatalf("the error shows the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSessionKey: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("ParseSessionKey = %x, want %x", got, tt.want)
			}
		})
	}
}

// TestSessionKeyNeverShown: a bad session key's validation error names the
// key and not the value, and Redacted hides a good one.
func TestSessionKeyNeverShown(t *testing.T) {
	const secret = "sekrit-sekrit-sekrit-do-not-print"
	c := Default()
	c.MCP.SessionKey = secret
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "mcp.session_key: ") {
		t.Fatalf("Validate() = %v, want a problem naming mcp.session_key", err)
	}
	if strings.Contains(err.Error(), "sekrit") {
		t.Fatalf("Validate() shows the value: %v", err)
	}

	good := strings.Repeat("0123456789abcdef", 4)
	c.MCP.SessionKey = good
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() with a good key = %v", err)
	}
	out := fmt.Sprintf("%+v", *c.Redacted())
	if strings.Contains(out, "0123456789abcdef") || !strings.Contains(out, "SessionKey:REDACTED") {
		t.Fatalf("Redacted() shows the session key or no placeholder:\n%s", out)
	}
	if c.MCP.SessionKey != good {
		t.Fatal("Redacted() changed the original")
	}
}
