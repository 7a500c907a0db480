package server

import (
	"encoding/binary"
	"testing"
)

func TestTaskRefPayload(t *testing.T) {
	ref := taskRef{upstream: "everything", tool: "everything__simulate-research-query", id: "4b0c-uuid"}
	if got, ok := decodeTaskRef(ref.encode()); !ok || got != ref {
		t.Fatalf("decodeTaskRef(encode(%+v)) = %+v, %v", ref, got, ok)
	}
	valid := ref.encode()
	huge := binary.AppendUvarint(nil, 1<<40)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"truncated", valid[:len(valid)-1]},
		{"trailing bytes", append(append([]byte(nil), valid...), 'x')},
		{"a length past the end", append(huge, "everything"...)},
		{"two fields only", append(binary.AppendUvarint(nil, 1), 'a', 1, 'b')},
		{"a bad length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := decodeTaskRef(tt.payload); ok {
				t.Errorf("decodeTaskRef(%q) = %+v; want a refusal", tt.payload, got)
			}
		})
	}
}
