package testutil

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is an OTLP/HTTP trace receiver for tests: it decodes the
// real protobuf ExportTraceServiceRequest posted to /v1/traces and keeps
// the spans.
type OTLPReceiver struct {
	// URL is the receiver's base URL (an OTEL_EXPORTER_OTLP_ENDPOINT).
	URL string

	srv *httptest.Server

	mu    sync.Mutex // guards the fields below
	spans []Span
	bad   []string // what could not be decoded
}

// Span is one received span, with IDs in hex and attributes as strings
// (the resource's under "resource." keys are kept apart in Resource).
type Span struct {
	Name                          string
	Kind                          tracepb.Span_SpanKind
	TraceID, SpanID, ParentSpanID string
	Attrs, Resource               map[string]string
	StatusCode                    tracepb.Status_StatusCode
	StatusMessage                 string
	StartUnixNano, EndUnixNano    uint64
}

// NewOTLPReceiver starts a receiver, closed when the test ends.
func NewOTLPReceiver(t testing.TB) *OTLPReceiver {
	rc := &OTLPReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	rc.URL = rc.srv.URL
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, b := range rc.bad {
			t.Errorf("OTLP receiver: %s", b)
		}
	})
	return rc
}

func (rc *OTLPReceiver) fail(w http.ResponseWriter, msg string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, msg)
	rc.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

func (rc *OTLPReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
		rc.fail(w, r.Method+" "+r.URL.Path+": not an OTLP trace export")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		rc.fail(w, "Content-Type "+ct+", want application/x-protobuf")
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			rc.fail(w, "gzip: "+err.Error())
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		rc.fail(w, "reading: "+err.Error())
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		rc.fail(w, "decoding ExportTraceServiceRequest: "+err.Error())
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Name:          s.GetName(),
					Kind:          s.GetKind(),
					TraceID:       hex.EncodeToString(s.GetTraceId()),
					SpanID:        hex.EncodeToString(s.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(s.GetParentSpanId()),
					Attrs:         attrMap(s.GetAttributes()),
					Resource:      res,
					StatusCode:    s.GetStatus().GetCode(),
					StatusMessage: s.GetStatus().GetMessage(),
					StartUnixNano: s.GetStartTimeUnixNano(),
					EndUnixNano:   s.GetEndTimeUnixNano(),
				})
			}
		}
	}
	rc.mu.Lock()
	rc.spans = append(rc.spans, got...)
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

// attrMap turns OTLP attributes into strings: strings as they are, ints
// and bools in decimal and true/false, other kinds as their protobuf text.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(v.GetBoolValue())
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// Spans returns the spans received so far.
func (rc *OTLPReceiver) Spans() []Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Span(nil), rc.spans...)
}
