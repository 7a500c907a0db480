package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestHelpersWithoutSpanCostNothing: without a recording span in the
// context the helpers start nothing, send nothing and allocate nothing.
func TestHelpersWithoutSpanCostNothing(t *testing.T) {
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		c, span := StartClient(ctx, "tools/call", "echo")
		if Traceparent(c) != "" || Recording(c) {
			t.Fatal("a span without a recording parent")
		}
		Fail(span, "error", true)
		span.End()
	})
	if allocs != 0 {
		t.Errorf("StartClient, Traceparent, Fail and End without a span: %v allocs, want 0", allocs)
	}
}

// TestStartClientAndTransport: under a recording span StartClient starts
// a client child from the parent's provider, and Transport sends its
// traceparent (only that header) without changing the caller's request.
func TestStartClientAndTransport(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")

	var gotTP, gotState string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTP, gotState = r.Header.Get("Traceparent"), r.Header.Get("Tracestate")
	}))
	defer srv.Close()

	cctx, span := StartClient(ctx, "resources/read", "")
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, srv.URL, nil)
	resp, err := (&http.Client{Transport: Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	span.End()
	parent.End()

	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if gotTP != want || gotState != "" {
		t.Errorf("target got traceparent %q tracestate %q, want %q and none", gotTP, gotState, want)
	}
	if req.Header.Get("Traceparent") != "" {
		t.Error("Transport changed the caller's request")
	}
	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Name() != "resources/read" || ended[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("ended spans %v, want resources/read under parent", ended)
	}
}
