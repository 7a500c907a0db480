// Package tracing sets up OpenTelemetry tracing for tsmcp: an OTLP
// exporter, configured only by the standard OTEL_* environment variables,
// and helpers for the spans the host and its tools start. Tracing is off
// unless those variables ask for it; off, nothing is installed and the
// helpers cost nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Options configure Setup.
type Options struct {
	// ServiceVersion is the service.version resource attribute. Empty
	// means "dev".
	ServiceVersion string
	// Logger receives the SDK's errors (a failed export) and, at debug
	// level, its internal messages. Nil means slog.Default().
	Logger *slog.Logger
}

// installed is true while Setup's TracerProvider is the global one.
var installed atomic.Bool

// Enabled reports whether Setup installed a TracerProvider (and it has
// not been shut down): the host then traces its requests.
func Enabled() bool { return installed.Load() }

// Setup installs a global TracerProvider exporting over OTLP, and the W3C
// TraceContext and Baggage propagators, when the OTEL_* environment
// variables ask for traces: OTEL_TRACES_EXPORTER=otlp, or an
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off.
// Otherwise it installs nothing. Invalid OTEL_* values are an error,
// whether tracing is on or not.
//
// The returned shutdown flushes the spans not yet exported and stops the
// exporter; it is never nil (a no-op when nothing was installed).
func Setup(ctx context.Context, opts Options) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	cfg, err := readEnv(os.LookupEnv)
	if err != nil {
		return noop, err
	}
	if !cfg.enabled {
		return noop, nil
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	version := opts.ServiceVersion
	if version == "" {
		version = "dev"
	}
	// Later options win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", "tsmcp"),
			attribute.String("service.version", version),
		),
		resource.WithFromEnv(),
	)
	if err != nil {
		return noop, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", err)
	}
	var exp sdktrace.SpanExporter
	switch cfg.protocol {
	case protoGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return noop, fmt.Errorf("tracing: OTLP exporter (%s): %w", cfg.protocol, err)
	}
	// The SDK's own messages go through slog too: no raw lines on a JSON
	// stderr.
	otel.SetLogger(logr.FromSlogHandler(log.With(slog.String("log", "otel")).Handler()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: the OpenTelemetry SDK failed", "err", err)
	}))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	installed.Store(true)
	log.Info("tracing: exporting traces over OTLP", "protocol", cfg.protocol)
	return func(ctx context.Context) error {
		installed.Store(false)
		err := tp.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("tracing: flushing spans: %w", err)
		}
		return err
	}, nil
}
