package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tsmcp/tsmcp/internal/config"
)

// cell is a measured cell for the goal tests: calls in 1 s, CPU in total.
func cell(kind, tr string, n int, p50, cpu time.Duration) cellResult {
	return cellResult{kind: kind, transport: tr, clients: n, calls: 1000, elapsed: time.Second, p50: p50, hostCPU: cpu * 1000}
}

func TestCallGoals(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	tests := []struct {
		name  string
		calls *callsResults
		want  []goalRow
	}{
		{name: "nothing measured", calls: nil, want: nil},
		{
			name: "all met",
			calls: &callsResults{cells: []cellResult{
				cell(kindTsmcp, "streamable", 1, 105*us, 110*us),
				cell(kindBareTailnet, "streamable", 1, 100*us, 100*us),
				cell(kindSidecar, "streamable", 1, 200*us, 300*us),
			}},
			want: []goalRow{
				{"p50 overhead over bare mcp-go on the same tailnet < 10%", "worst +5.0% (streamable, 1 clients)", "yes"},
				{"tsmcp CPU/call ≤ 1.2x bare mcp-go (tailnet)", "worst 1.10x (streamable, 1 clients)", "yes"},
				{"tsmcp CPU/call < the sidecar anchor's (tailscaled serve)", "worst 0.37x (streamable, 1 clients)", "yes"},
			},
		},
		{
			name: "the worst cell decides, whatever its place",
			calls: &callsResults{cells: []cellResult{
				cell(kindTsmcp, "streamable", 1, 1*ms, 100*us),
				cell(kindBareTailnet, "streamable", 1, 1*ms, 100*us),
				cell(kindSidecar, "streamable", 1, 1*ms, 200*us),
				cell(kindTsmcp, "sse", 64, 2*ms, 300*us),
				cell(kindBareTailnet, "sse", 64, 1*ms, 100*us),
				cell(kindSidecar, "sse", 64, 1*ms, 250*us),
			}},
			want: []goalRow{
				{"p50 overhead over bare mcp-go on the same tailnet < 10%", "worst +100.0% (sse, 64 clients)", "**no**"},
				{"tsmcp CPU/call ≤ 1.2x bare mcp-go (tailnet)", "worst 3.00x (sse, 64 clients)", "**no**"},
				{"tsmcp CPU/call < the sidecar anchor's (tailscaled serve)", "worst 1.20x (sse, 64 clients)", "**no**"},
			},
		},
		{
			name: "exactly 1.2x meets the CPU goal; equal to the sidecar does not",
			calls: &callsResults{cells: []cellResult{
				cell(kindTsmcp, "streamable", 8, 1*ms, 120*us),
				cell(kindBareTailnet, "streamable", 8, 1*ms, 100*us),
				cell(kindSidecar, "streamable", 8, 1*ms, 120*us),
			}},
			want: []goalRow{
				{"p50 overhead over bare mcp-go on the same tailnet < 10%", "worst +0.0% (streamable, 8 clients)", "yes"},
				{"tsmcp CPU/call ≤ 1.2x bare mcp-go (tailnet)", "worst 1.20x (streamable, 8 clients)", "yes"},
				{"tsmcp CPU/call < the sidecar anchor's (tailscaled serve)", "worst 1.00x (streamable, 8 clients)", "**no**"},
			},
		},
		{
			name: "failed and missing cells are not compared; an unavailable anchor says so",
			calls: &callsResults{
				sidecarErr: "no tailscaled",
				cells: []cellResult{
					cell(kindTsmcp, "streamable", 1, 1*ms, 100*us),
					cell(kindBareTailnet, "streamable", 1, 1*ms, 100*us),
					{kind: kindTsmcp, transport: "sse", clients: 1, err: errors.New("connect")},
					cell(kindBareTailnet, "sse", 1, 1*ms, 100*us),
					cell(kindTsmcp, "sse", 8, 9*ms, 900*us), // no bare cell to compare with
				},
			},
			want: []goalRow{
				{"p50 overhead over bare mcp-go on the same tailnet < 10%", "worst +0.0% (streamable, 1 clients)", "yes"},
				{"tsmcp CPU/call ≤ 1.2x bare mcp-go (tailnet)", "worst 1.00x (streamable, 1 clients)", "yes"},
				{"tsmcp CPU/call < the sidecar anchor's (tailscaled serve)", "not measured: the anchor was not available", "n/a"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := callGoals(tt.calls)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("callGoals:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTracingStatus(t *testing.T) {
	tests := []struct {
		name       string
		res        overheadResults
		wantActive bool
		wantIn     string
	}{
		{name: "nothing received", res: overheadResults{}, wantIn: "tracing not active: 0 exports received"},
		{name: "only undecodable requests", res: overheadResults{sink: otlpStats{Bad: 2, LastBad: "malformed protobuf"}},
			wantIn: "tracing not active: 0 exports received"},
		{name: "spans received", res: overheadResults{sink: otlpStats{Exports: 4, Spans: 3000, Bytes: 2048}, tracedCalls: 1500},
			wantActive: true, wantIn: "4 exports, 3000 spans, 2.00 KiB, for 1500 successful calls to the tracing variant (warm-ups included): 2.00 spans per call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			active, line := tracingStatus(&tt.res)
			if active != tt.wantActive || !strings.Contains(line, tt.wantIn) {
				t.Fatalf("tracingStatus = %v, %q; want %v and a line with %q", active, line, tt.wantActive, tt.wantIn)
			}
		})
	}
}

func TestChildEnv(t *testing.T) {
	tests := []struct {
		name string
		base []string
		drop []string
		add  []string
		want []string
	}{
		{name: "nothing dropped", base: []string{"PATH=/bin", "HOME=/root"}, add: []string{"A=1"},
			want: []string{"PATH=/bin", "HOME=/root", "A=1"}},
		{name: "the harness's TSMCP_ and OTEL_ variables are dropped",
			base: []string{"PATH=/bin", "TSMCP_HEALTH_METRICS=false", "OTEL_EXPORTER_OTLP_ENDPOINT=http://x", "OTELX=keep? no", "MY_OTEL_THING=1"},
			drop: []string{"TSMCP_", "OTEL_"},
			add:  []string{"TSMCP_HEALTH_METRICS=true"},
			want: []string{"PATH=/bin", "OTELX=keep? no", "MY_OTEL_THING=1", "TSMCP_HEALTH_METRICS=true"}},
		{name: "a prefix matches names, not values", base: []string{"X=OTEL_Y"}, drop: []string{"OTEL_"},
			want: []string{"X=OTEL_Y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := childEnv(tt.base, tt.drop, tt.add...); !slices.Equal(got, tt.want) {
				t.Fatalf("childEnv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVariantEnv(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("TSMCP_HEALTH_ADDR", "0.0.0.0:1")
	tests := []struct {
		variant string
		want    []string
		notWant []string
	}{
		{variantBaseline, []string{"TSMCP_HEALTH_METRICS=false"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://sink"}},
		{variantMetrics, []string{"TSMCP_HEALTH_METRICS=true"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://sink"}},
		{variantTracing, []string{"TSMCP_HEALTH_METRICS=false", "OTEL_EXPORTER_OTLP_ENDPOINT=http://sink", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.variant, func(t *testing.T) {
			env := variantEnv(tt.variant, "http://sink")
			for _, w := range append(tt.want, "TS_NO_LOGS_NO_SUPPORT=true") {
				if !slices.Contains(env, w) {
					t.Errorf("missing %s", w)
				}
			}
			for _, kv := range append(tt.notWant, "OTEL_TRACES_SAMPLER=always_off", "TSMCP_HEALTH_ADDR=0.0.0.0:1") {
				if slices.Contains(env, kv) {
					t.Errorf("has %s", kv)
				}
			}
		})
	}
}

func TestSelfDNSName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "trailing dot dropped", in: `{"Self":{"DNSName":"calls-sidecar.tail-scale.ts.net.","HostName":"calls-sidecar"}}`, want: "calls-sidecar.tail-scale.ts.net"},
		{name: "without the dot", in: `{"Self":{"DNSName":"a.b.ts.net"}}`, want: "a.b.ts.net"},
		{name: "no Self", in: `{"BackendState":"NeedsLogin"}`, wantErr: true},
		{name: "empty name", in: `{"Self":{"DNSName":"."}}`, wantErr: true},
		{name: "not a host name", in: `{"Self":{"DNSName":"evil.example/path"}}`, wantErr: true},
		{name: "not JSON", in: `Tailscale is stopped.`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selfDNSName([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("selfDNSName = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCellRSS(t *testing.T) {
	tests := []struct {
		name string
		c    cellResult
		want string
	}{
		{name: "not sampled", c: cellResult{}, want: ""},
		{name: "one process", c: cellResult{rss: 40 << 20}, want: "40.0 MiB"},
		{name: "server and sidecar", c: cellResult{rss: 40 << 20, sidecarRSS: 60 << 20}, want: "100 MiB (40.0 MiB + tailscaled 60.0 MiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cellRSS(tt.c); got != tt.want {
				t.Fatalf("cellRSS = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSessionLimits(t *testing.T) {
	def := config.DefaultLimits()
	raised := def
	raised.SessionsPerIdentity, raised.SessionsTotal = 11024, 11024
	raised.StreamsPerIdentity, raised.StreamsTotal = 11024, 11024
	raised.UnusedSessionTTL = time.Hour
	tests := []struct {
		name string
		n    int
		want config.Limits
	}{
		{name: "zero keeps the defaults", n: 0, want: def},
		{name: "negative keeps the defaults", n: -1, want: def},
		{name: "10,000 sessions: session and stream caps raised, calls and bodies untouched", n: 10000, want: raised},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sessionLimits(def, tt.n); got != tt.want {
				t.Fatalf("sessionLimits(%d) = %+v, want %+v", tt.n, got, tt.want)
			}
		})
	}
}
