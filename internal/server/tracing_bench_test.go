package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// tracedRequest is a buffered tools/call POST, as limitBody hands it on
// (its peekRPC decoding is done on first use and then shared, as for a
// real request that every layer reads).
func tracedRequest() *http.Request {
	body := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{"a":"b"}}}`)
	r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(string(body)))
	return r.WithContext(context.WithValue(r.Context(), bodyKey{}, &requestBody{body: body}))
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// BenchmarkTraceRequests compares a request through the handler alone
// (bare), through traceRequests with tracing off, and with tracing on (an
// SDK provider without exporter: the cost of the span itself).
func BenchmarkTraceRequests(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", okHandler},
		{"off", (&Server{}).traceRequests(okHandler)},
		{"on", (&Server{tracer: tp.Tracer(tracing.Scope), sessions: newSessionStore(nil, time.Hour, nil)}).traceRequests(okHandler)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, w := tracedRequest(), nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}

// TestTracingOffCostsNothing: with tracing off a request through
// traceRequests allocates exactly what the handler alone does, and an
// audit line is not handed to the span annotator at all.
func TestTracingOffCostsNothing(t *testing.T) {
	r, w := tracedRequest(), nopWriter{h: http.Header{}}
	bare := testing.AllocsPerRun(10000, func() { okHandler.ServeHTTP(w, r) })
	off := (&Server{}).traceRequests(okHandler)
	if got := testing.AllocsPerRun(10000, func() { off.ServeHTTP(w, r) }); got != bare {
		t.Errorf("traceRequests with tracing off: %v allocs per request, the handler alone %v", got, bare)
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	on := (&Server{tracer: tp.Tracer(tracing.Scope), sessions: newSessionStore(nil, time.Hour, nil)}).traceRequests(okHandler)
	if got := testing.AllocsPerRun(10000, func() { on.ServeHTTP(w, r) }); got <= bare {
		t.Errorf("traceRequests with tracing on: %v allocs per request, no more than the handler alone (%v): is it tracing?", got, bare)
	}
}
