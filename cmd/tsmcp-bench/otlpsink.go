package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// otlpSink is an OTLP/HTTP trace receiver for the tracing cell: it accepts
// POST /v1/traces (protobuf or JSON, gzip or not), answers 200 with an
// empty ExportTraceServiceResponse, and counts what it received, so that
// the report can show that tracing was active (or say that it was not).
type otlpSink struct {
	srv *http.Server
	// url is the endpoint for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter
	// appends /v1/traces).
	url string

	mu    sync.Mutex // guards the fields below
	stats otlpStats
}

// otlpStats is what an otlpSink received.
type otlpStats struct {
	Exports int64 // POST /v1/traces requests decoded
	Spans   int64 // spans in them
	Bytes   int64 // request bodies, as sent (compressed if so)
	Bad     int64 // requests that were not a decodable trace export
	LastBad string
}

// startOTLPSink listens on a loopback port and serves until close.
func startOTLPSink() (*otlpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &otlpSink{url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", s.serveTraces)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// close stops the sink.
func (s *otlpSink) close() error { return s.srv.Close() }

// snapshot returns the counts so far.
func (s *otlpSink) snapshot() otlpStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *otlpSink) serveTraces(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		s.bad(len(raw), err)
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	body := raw
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.bad(len(raw), fmt.Errorf("gzip: %w", err))
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
	}
	ct := r.Header.Get("Content-Type")
	jsonBody := strings.HasPrefix(ct, "application/json")
	var spans int
	if jsonBody {
		spans, err = countSpansJSON(body)
	} else {
		spans, err = countSpansProto(body)
	}
	if err != nil {
		s.bad(len(raw), err)
		http.Error(w, "not a trace export", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.stats.Exports++
	s.stats.Spans += int64(spans)
	s.stats.Bytes += int64(len(raw))
	s.mu.Unlock()
	// An empty ExportTraceServiceResponse: zero bytes in protobuf, {} in
	// JSON (no partial_success: everything accepted).
	if jsonBody {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *otlpSink) bad(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Bad++
	s.stats.Bytes += int64(n)
	s.stats.LastBad = err.Error()
}

// countSpansJSON counts the spans of an ExportTraceServiceRequest in
// OTLP/JSON (resourceSpans[].scopeSpans[].spans[]).
func countSpansJSON(b []byte) (int, error) {
	var req struct {
		ResourceSpans []struct {
			ScopeSpans []struct {
				Spans []json.RawMessage `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return 0, err
	}
	n := 0
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	return n, nil
}

// The field numbers of the OTLP trace messages the sink walks
// (opentelemetry/proto/collector/trace/v1 and trace/v1).
const (
	fieldExportResourceSpans = 1 // ExportTraceServiceRequest.resource_spans
	fieldResourceScopeSpans  = 2 // ResourceSpans.scope_spans
	fieldScopeSpansSpans     = 2 // ScopeSpans.spans
)

// countSpansProto counts the spans of a protobuf ExportTraceServiceRequest
// by walking the wire format: resource_spans (1) → scope_spans (2) →
// spans (2). Other fields are skipped; malformed input is an error.
func countSpansProto(b []byte) (int, error) {
	n := 0
	err := protoFields(b, func(num int, msg []byte) error {
		if num != fieldExportResourceSpans {
			return nil
		}
		return protoFields(msg, func(num int, msg []byte) error {
			if num != fieldResourceScopeSpans {
				return nil
			}
			return protoFields(msg, func(num int, _ []byte) error {
				if num == fieldScopeSpansSpans {
					n++
				}
				return nil
			})
		})
	})
	return n, err
}

// errProto is a malformed protobuf message.
var errProto = errors.New("malformed protobuf")

// protoFields walks the fields of one protobuf message and calls fn with
// the number and bytes of each length-delimited field (varint, fixed32 and
// fixed64 fields are skipped; groups are refused, OTLP has none).
func protoFields(b []byte, fn func(num int, val []byte) error) error {
	for len(b) > 0 {
		tag, n := uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: bad tag", errProto)
		}
		b = b[n:]
		num, typ := int(tag>>3), tag&7
		if num <= 0 {
			return fmt.Errorf("%w: field number %d", errProto, num)
		}
		switch typ {
		case 0: // varint
			_, n := uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad varint in field %d", errProto, num)
			}
			b = b[n:]
		case 1: // fixed64
			if len(b) < 8 {
				return fmt.Errorf("%w: short fixed64 in field %d", errProto, num)
			}
			b = b[8:]
		case 5: // fixed32
			if len(b) < 4 {
				return fmt.Errorf("%w: short fixed32 in field %d", errProto, num)
			}
			b = b[4:]
		case 2: // length-delimited
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("%w: bad length in field %d", errProto, num)
			}
			val := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := fn(num, val); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: wire type %d in field %d", errProto, typ, num)
		}
	}
	return nil
}

// uvarint decodes a base-128 varint; n <= 0 means b holds no valid one.
func uvarint(b []byte) (v uint64, n int) {
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, -1
			}
			return v, i + 1
		}
	}
	return 0, 0
}
