package tracing

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// otelVars are cleared for every Setup test, so that the machine's
// environment cannot turn tracing on.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_TRACES_SAMPLER", "OTEL_PROPAGATORS",
}

func clearOTEL(t *testing.T) {
	for _, k := range otelVars {
		t.Setenv(k, "")
	}
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
}

// TestSetupOffInstallsNothing: without OTEL_* variables Setup installs no
// TracerProvider and no propagator, and reports tracing off.
func TestSetupOffInstallsNothing(t *testing.T) {
	clearOTEL(t)
	shutdown, err := Setup(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if Enabled() {
		t.Error("Enabled() with no OTEL_* variables")
	}
	if tp, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); ok {
		t.Errorf("an SDK TracerProvider %p was installed", tp)
	}
	if f := otel.GetTextMapPropagator().Fields(); len(f) != 0 {
		t.Errorf("a propagator for %v was installed", f)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestSetupRefusesBadValues: an invalid value fails Setup, which installs
// nothing.
func TestSetupRefusesBadValues(t *testing.T) {
	clearOTEL(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml")
	if _, err := Setup(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Fatalf("Setup = %v, want an error naming OTEL_EXPORTER_OTLP_PROTOCOL", err)
	}
	if Enabled() {
		t.Error("Enabled() after a failed Setup")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment")
	if _, err := Setup(t.Context(), Options{}); err == nil || !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
		t.Fatalf("Setup = %v, want an error naming OTEL_RESOURCE_ATTRIBUTES", err)
	}
	if Enabled() {
		t.Error("Enabled() after a failed Setup")
	}
}

// grpcReceiver is an OTLP/gRPC trace receiver: the real collector
// service, keeping the span names it gets.
type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu      sync.Mutex // guards the field below
	names   []string
	svc     []string
	version string
}

func (g *grpcReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "service.name":
				g.svc = append(g.svc, kv.GetValue().GetStringValue())
			case "service.version":
				g.version = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				g.names = append(g.names, s.GetName()+" "+hex.EncodeToString(s.GetTraceId()))
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// TestSetupExports: with an endpoint, Setup installs a provider and the
// W3C propagators; a span reaches a real receiver over OTLP (HTTP with
// protobuf, and gRPC) by the time shutdown returns, with the resource's
// service.name (tsmcp, or OTEL_SERVICE_NAME) and service.version.
func TestSetupExports(t *testing.T) {
	tests := []struct {
		name        string
		protocol    string
		serviceName string
		want        string
	}{
		{name: "http/protobuf", protocol: "", want: "tsmcp"},
		{name: "grpc", protocol: "grpc", serviceName: "mcp-gateway", want: "mcp-gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTEL(t)
			var got func() (names, svc []string, version string)
			if tt.protocol == "grpc" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				rcv := &grpcReceiver{}
				collectortrace.RegisterTraceServiceServer(gs, rcv)
				go gs.Serve(ln)
				t.Cleanup(gs.Stop)
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+ln.Addr().String())
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
				got = func() ([]string, []string, string) {
					rcv.mu.Lock()
					defer rcv.mu.Unlock()
					return append([]string(nil), rcv.names...), append([]string(nil), rcv.svc...), rcv.version
				}
			} else {
				rc := testutil.NewOTLPReceiver(t)
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
				got = func() ([]string, []string, string) {
					var names, svc []string
					version := ""
					for _, s := range rc.Spans() {
						names = append(names, s.Name+" "+s.TraceID)
						svc = append(svc, s.Resource["service.name"])
						version = s.Resource["service.version"]
					}
					return names, svc, version
				}
			}
			if tt.serviceName != "" {
				t.Setenv("OTEL_SERVICE_NAME", tt.serviceName)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			shutdown, err := Setup(ctx, Options{ServiceVersion: "v-test"})
			if err != nil {
				t.Fatal(err)
			}
			if !Enabled() {
				t.Error("Enabled() false after Setup with an endpoint")
			}
			if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
				t.Errorf("global TracerProvider is %T, want the SDK's", otel.GetTracerProvider())
			}
			if f := strings.Join(otel.GetTextMapPropagator().Fields(), ","); !strings.Contains(f, "traceparent") || !strings.Contains(f, "baggage") {
				t.Errorf("propagator fields %q, want traceparent and baggage", f)
			}
			_, span := otel.Tracer("setup-test").Start(ctx, "probe")
			traceID := span.SpanContext().TraceID().String()
			span.End()
			if err := shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if Enabled() {
				t.Error("Enabled() after shutdown")
			}
			names, svc, version := got()
			if len(names) != 1 || names[0] != "probe "+traceID {
				t.Errorf("receiver got spans %q, want [probe %s]", names, traceID)
			}
			if len(svc) != 1 || svc[0] != tt.want || version != "v-test" {
				t.Errorf("service.name %q, version %q; want %s, v-test", svc, version, tt.want)
			}
		})
	}
}
