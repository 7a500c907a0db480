package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// TestServeTracing: serve installs OpenTelemetry tracing only when the
// OTEL_* variables ask for it, before it joins the tailnet, and refuses
// to start on an invalid value. (Here serve stops at the health listener,
// whose address is taken, before joining.)
func TestServeTracing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var controlHits atomic.Int32
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		controlHits.Add(1)
		http.NotFound(w, r)
	}))
	defer control.Close()
	cfg := writeFile(t, "tsmcp.yaml", "tailnet:\n  control_url: "+control.URL+"\n  state: \"mem:\"\n  ephemeral: true\nhealth:\n  addr: "+taken.Addr().String()+"\n")
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(k, "")
	}
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	sdkInstalled := func() bool {
		_, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
		return ok
	}

	t.Run("OTEL variables unset: nothing installed", func(t *testing.T) {
		_, _, err := runCmd(t, "serve", "--config", cfg)
		if err == nil || !strings.Contains(err.Error(), "health.addr") {
			t.Fatalf("serve = %v, want the health listener's error", err)
		}
		if sdkInstalled() || len(otel.GetTextMapPropagator().Fields()) != 0 || tracing.Enabled() {
			t.Errorf("tracing installed without OTEL_* variables: provider %T, propagator fields %v",
				otel.GetTracerProvider(), otel.GetTextMapPropagator().Fields())
		}
	})
	t.Run("bad protocol: a clear error before anything starts", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml")
		_, _, err := runCmd(t, "serve", "--config", cfg)
		if err == nil || !strings.Contains(err.Error(), `OTEL_EXPORTER_OTLP_PROTOCOL="http/xml": want http/protobuf or grpc`) {
			t.Fatalf("serve = %v, want an error naming OTEL_EXPORTER_OTLP_PROTOCOL", err)
		}
		if sdkInstalled() {
			t.Error("a TracerProvider was installed despite the error")
		}
	})
	t.Run("endpoint set: installed, and stopped at exit", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
		_, _, err := runCmd(t, "serve", "--config", cfg)
		if err == nil || !strings.Contains(err.Error(), "health.addr") {
			t.Fatalf("serve = %v, want the health listener's error", err)
		}
		if !sdkInstalled() {
			t.Errorf("global TracerProvider %T, want the SDK's", otel.GetTracerProvider())
		}
		if tracing.Enabled() {
			t.Error("tracing still enabled after serve returned: not shut down")
		}
	})
	if n := controlHits.Load(); n != 0 {
		t.Errorf("the control server was contacted %d times", n)
	}
}
