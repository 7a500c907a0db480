package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Protocols of the OTLP exporter (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	protoHTTP = "http/protobuf"
	protoGRPC = "grpc"
)

// envConfig is what tsmcp reads itself from the OTEL_* variables. The
// SDK and the exporters read the rest (endpoint, headers, timeouts,
// sampler, batch sizes) on their own; validate checks those values first,
// so that a typo is a startup error instead of an SDK log line and a
// silently ignored setting.
type envConfig struct {
	// enabled: traces are exported.
	enabled bool
	// protocol is protoHTTP or protoGRPC.
	protocol string
}

// readEnv reads and checks the OTEL_* variables that concern traces.
// lookup is os.LookupEnv outside tests.
func readEnv(lookup func(string) (string, bool)) (envConfig, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	var errs []error
	bad := func(k, v, want string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", k, v, want))
	}
	var c envConfig

	disabled := false
	if v := get("OTEL_SDK_DISABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("OTEL_SDK_DISABLED", v, "want true or false")
		}
		disabled = b
	}

	exporter := strings.ToLower(get("OTEL_TRACES_EXPORTER"))
	switch exporter {
	case "", "otlp", "none":
	default:
		bad("OTEL_TRACES_EXPORTER", exporter, "tsmcp exports traces with otlp (or none); other exporters are not built in")
	}

	endpoint := false
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		v := get(k)
		if v == "" {
			continue
		}
		endpoint = true
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(k, v, "want an http:// or https:// URL with a host")
		}
	}

	c.protocol = protoHTTP
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		// The traces-specific variable, read second, wins.
		switch v := get(k); v {
		case "":
		case protoHTTP, protoGRPC:
			c.protocol = v
		case "http/json":
			bad(k, v, "http/json is not supported by the Go OTLP exporter; want http/protobuf or grpc")
		default:
			bad(k, v, "want http/protobuf or grpc")
		}
	}

	for _, k := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if err := checkHeaders(get(k)); err != nil {
			// Never the value: headers carry credentials.
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"} {
		switch v := get(k); v {
		case "", "gzip", "none":
		default:
			bad(k, v, "want gzip or none")
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE"} {
		if v := get(k); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				bad(k, v, "want true or false")
			}
		}
	}
	for _, k := range []string{
		"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
		"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
	} {
		if v := get(k); v != "" {
			if _, err := os.Stat(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
		}
	}
	// Non-negative integers (milliseconds or counts).
	for _, k := range []string{
		"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
		"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT",
		"OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
		"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
		"OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_SPAN_LINK_COUNT_LIMIT",
		"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
	} {
		if v := get(k); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				bad(k, v, "want a non-negative integer")
			}
		}
	}

	sampler := strings.ToLower(get("OTEL_TRACES_SAMPLER"))
	switch sampler {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if v := get("OTEL_TRACES_SAMPLER_ARG"); v != "" {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || f > 1 {
				bad("OTEL_TRACES_SAMPLER_ARG", v, "want a ratio from 0 to 1")
			}
		}
	default:
		bad("OTEL_TRACES_SAMPLER", sampler, "want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio")
	}

	if v := get("OTEL_PROPAGATORS"); v != "" {
		for _, p := range strings.Split(v, ",") {
			switch strings.TrimSpace(p) {
			case "tracecontext", "baggage":
			default:
				bad("OTEL_PROPAGATORS", v, "tsmcp propagates W3C tracecontext and baggage, and no other format; want tracecontext,baggage")
			}
		}
	}

	if err := errors.Join(errs...); err != nil {
		return envConfig{}, fmt.Errorf("tracing: %w", err)
	}
	c.enabled = !disabled && exporter != "none" && (exporter == "otlp" || endpoint)
	return c, nil
}

// checkHeaders checks an OTEL_EXPORTER_OTLP_HEADERS value: a
// comma-separated list of key=value, values URL-encoded. The error names
// the entry by its position and key, never its value.
func checkHeaders(v string) error {
	if v == "" {
		return nil
	}
	for i, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return fmt.Errorf("entry %d is not key=value", i+1)
		}
		if _, err := url.PathUnescape(strings.TrimSpace(val)); err != nil {
			return fmt.Errorf("entry %d (%s): the value is not URL-encoded", i+1, k)
		}
	}
	return nil
}
