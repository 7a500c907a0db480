package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"testing"
)

// pbLen appends field num as a length-delimited field holding val.
func pbLen(b []byte, num int, val []byte) []byte {
	b = pbVarint(b, uint64(num)<<3|2)
	b = pbVarint(b, uint64(len(val)))
	return append(b, val...)
}

// pbVarint appends v as a base-128 varint.
func pbVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// span is a minimal Span message: trace_id (1), span_id (2), name (5),
// kind (6, varint), start_time_unix_nano (7, fixed64).
func span(name string) []byte {
	var s []byte
	s = pbLen(s, 1, bytes.Repeat([]byte{1}, 16))
	s = pbLen(s, 2, bytes.Repeat([]byte{2}, 8))
	s = pbLen(s, 5, []byte(name))
	s = pbVarint(s, 6<<3|0)
	s = pbVarint(s, 2)
	s = pbVarint(s, 7<<3|1)
	return append(s, 1, 2, 3, 4, 5, 6, 7, 8)
}

// scopeSpans holds a scope (1) and the spans (2).
func scopeSpans(spans ...[]byte) []byte {
	s := pbLen(nil, 1, pbLen(nil, 1, []byte("tsmcp")))
	for _, sp := range spans {
		s = pbLen(s, 2, sp)
	}
	return s
}

// resourceSpans holds a resource (1) and scope spans (2).
func resourceSpans(scopes ...[]byte) []byte {
	r := pbLen(nil, 1, pbLen(nil, 1, []byte("attrs")))
	for _, sc := range scopes {
		r = pbLen(r, 2, sc)
	}
	return r
}

// exportRequest is an ExportTraceServiceRequest of resource spans (1).
func exportRequest(rs ...[]byte) []byte {
	var b []byte
	for _, r := range rs {
		b = pbLen(b, 1, r)
	}
	return b
}

func TestCountSpansProto(t *testing.T) {
	two := exportRequest(resourceSpans(scopeSpans(span("a"), span("b"))))
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr bool
	}{
		{name: "empty request", in: nil, want: 0},
		{name: "one span", in: exportRequest(resourceSpans(scopeSpans(span("tools/call")))), want: 1},
		{name: "two spans in one scope", in: two, want: 2},
		{name: "spans across scopes and resources", in: exportRequest(
			resourceSpans(scopeSpans(span("a")), scopeSpans(span("b"), span("c"))),
			resourceSpans(scopeSpans(span("d")))), want: 4},
		{name: "a scope without spans", in: exportRequest(resourceSpans(scopeSpans())), want: 0},
		{name: "an unknown top-level field is skipped", in: append(pbLen(nil, 9, []byte("x")), two...), want: 2},
		{name: "truncated", in: two[:len(two)-3], wantErr: true},
		{name: "length beyond the end", in: []byte{0x0a, 0x7f, 0x00}, wantErr: true},
		{name: "field number 0", in: []byte{0x02, 0x00}, wantErr: true},
		{name: "group wire type", in: []byte{0x0b}, wantErr: true},
		{name: "overlong varint", in: []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: true},
		{name: "JSON is not protobuf", in: []byte(`{"resourceSpans":[]}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := countSpansProto(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errProto) {
					t.Fatalf("countSpansProto = %d, %v; want a protobuf error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("countSpansProto = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestCountSpansJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr bool
	}{
		{name: "empty", in: `{}`, want: 0},
		{name: "three spans", in: `{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"},{"name":"b"}]},{"spans":[{"name":"c"}]}]}]}`, want: 3},
		{name: "not JSON", in: "\x0a\x00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := countSpansJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("countSpansJSON = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestOTLPSink posts exports to a running sink the way an OTLP/HTTP
// exporter does and checks what it counted and answered.
func TestOTLPSink(t *testing.T) {
	s, err := startOTLPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	threeSpans := exportRequest(resourceSpans(scopeSpans(span("a"), span("b"), span("c"))))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(threeSpans)
	zw.Close()

	tests := []struct {
		name       string
		method     string
		ctype      string
		encoding   string
		body       []byte
		wantStatus int
	}{
		{name: "protobuf", method: "POST", ctype: "application/x-protobuf", body: threeSpans, wantStatus: 200},
		{name: "gzip protobuf", method: "POST", ctype: "application/x-protobuf", encoding: "gzip", body: gz.Bytes(), wantStatus: 200},
		{name: "JSON", method: "POST", ctype: "application/json", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}`), wantStatus: 200},
		{name: "garbage", method: "POST", ctype: "application/x-protobuf", body: []byte{0x0a, 0x7f}, wantStatus: 400},
		{name: "GET", method: "GET", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.url+"/v1/traces", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ctype)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
	got := s.snapshot()
	wantBytes := int64(len(threeSpans) + gz.Len() + len(`{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}`) + 2)
	if got.Exports != 3 || got.Spans != 7 || got.Bad != 1 || got.Bytes != wantBytes {
		t.Fatalf("sink counted %+v; want 3 exports, 7 spans, 1 bad, %d bytes", got, wantBytes)
	}
}
