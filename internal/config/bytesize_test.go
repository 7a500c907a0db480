package config

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     ByteSize
		wantErr  string
	}{
		{name: "bytes", in: "1048576", want: MiB},
		{name: "B", in: "512B", want: 512},
		{name: "KiB", in: "512KiB", want: 512 * KiB},
		{name: "MiB", in: "4MiB", want: 4 * MiB},
		{name: "GiB", in: "1GiB", want: GiB},
		{name: "TiB", in: "2TiB", want: 2 * TiB},
		{name: "KB", in: "10KB", want: 10_000},
		{name: "MB", in: "1MB", want: 1_000_000},
		{name: "GB", in: "1GB", want: 1_000_000_000},
		{name: "lower case", in: "4mib", want: 4 * MiB},
		{name: "spaces", in: " 4 MiB ", want: 4 * MiB},
		{name: "zero", in: "0", want: 0},
		{name: "empty", in: "", wantErr: `"" is not a size`},
		{name: "unit only", in: "MiB", wantErr: `"MiB" is not a size`},
		{name: "unknown unit", in: "4M", wantErr: `"4M" is not a size`},
		{name: "negative", in: "-1", wantErr: `"-1" is not a size`},
		{name: "fraction", in: "1.5MiB", wantErr: `"1.5MiB" is not a size`},
		{name: "overflow", in: "9999999TiB", wantErr: "too large"},
		{name: "overflow digits", in: "99999999999999999999", wantErr: "too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseByteSize(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseByteSize(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			var u ByteSize
			if err := u.UnmarshalText([]byte(tt.in)); err != nil || u != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, %v", tt.in, u, err)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{4 * MiB, "4MiB"},
		{512 * KiB, "512KiB"},
		{1_000_000, "1MB"},
		{GiB, "1GiB"},
		{1536 * KiB, "1536KiB"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String(%d) = %q, want %q", int64(tt.in), got, tt.want)
			}
			if back, err := parseByteSize(tt.in.String()); err != nil || back != tt.in {
				t.Errorf("round trip of %d: %v, %v", int64(tt.in), back, err)
			}
			b, _ := tt.in.MarshalText()
			if string(b) != tt.want {
				t.Errorf("MarshalText = %q", b)
			}
		})
	}
}
