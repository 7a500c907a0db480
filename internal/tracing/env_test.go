package tracing

import (
	"strings"
	"testing"
)

func TestReadEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		enabled   bool
		protocol  string
		wantErr   []string // each must appear in the error
		forbidErr string   // must not appear in the error
	}{
		{name: "nothing set", env: nil, enabled: false, protocol: protoHTTP},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, enabled: true, protocol: protoHTTP},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector/v1/traces"}, enabled: true, protocol: protoHTTP},
		{name: "exporter otlp alone", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, enabled: true, protocol: protoHTTP},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: true, protocol: protoGRPC},
		{name: "traces protocol wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, enabled: true, protocol: protoHTTP},
		{name: "sdk disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, enabled: false, protocol: protoHTTP},
		{name: "exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, enabled: false, protocol: protoHTTP},
		{name: "protocol alone does not enable", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: false, protocol: protoGRPC},
		{name: "valid sampler and limits", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
			"OTEL_BSP_MAX_QUEUE_SIZE": "4096", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20abc,x-tenant=t1", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, enabled: true, protocol: protoHTTP},

		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/xml"}, wantErr: []string{`OTEL_EXPORTER_OTLP_PROTOCOL="http/xml"`, "want http/protobuf or grpc"}},
		{name: "http/json", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, wantErr: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json is not supported"}},
		{name: "bad exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: []string{`OTEL_TRACES_EXPORTER="zipkin"`, "otlp (or none)"}},
		{name: "bad disabled", env: map[string]string{"OTEL_SDK_DISABLED": "yes please"}, wantErr: []string{"OTEL_SDK_DISABLED", "true or false"}},
		{name: "endpoint without scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http:// or https://"}},
		{name: "bad sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, wantErr: []string{"OTEL_TRACES_SAMPLER", "jaeger_remote"}},
		{name: "bad ratio", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: []string{"OTEL_TRACES_SAMPLER_ARG", "from 0 to 1"}},
		{name: "bad timeout", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, wantErr: []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "non-negative integer"}},
		{name: "bad propagator", env: map[string]string{"OTEL_PROPAGATORS": "b3"}, wantErr: []string{"OTEL_PROPAGATORS", "tracecontext"}},
		{name: "bad compression", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, wantErr: []string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip or none"}},
		{name: "missing certificate", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, wantErr: []string{"OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"}},
		{name: "bad headers never show their value", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer top-secret,garbage-top-secret"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_HEADERS", "entry 2 is not key=value"}, forbidErr: "top-secret"},
		{name: "every problem at once", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "udp", "OTEL_TRACES_EXPORTER": "console"},
			wantErr: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_TRACES_EXPORTER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) {
				v, ok := tt.env[k]
				return v, ok
			}
			c, err := readEnv(lookup)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("readEnv = %+v, want an error", c)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if tt.forbidErr != "" && strings.Contains(err.Error(), tt.forbidErr) {
					t.Errorf("error %q shows %q", err, tt.forbidErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.enabled != tt.enabled || c.protocol != tt.protocol {
				t.Errorf("readEnv = %+v, want enabled %v protocol %s", c, tt.enabled, tt.protocol)
			}
		})
	}
}
