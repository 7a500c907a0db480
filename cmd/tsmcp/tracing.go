package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// tracingFlushTimeout bounds how long serve waits at exit for the spans
// not yet exported.
const tracingFlushTimeout = 5 * time.Second

// startTracing installs OpenTelemetry tracing when the OTEL_* variables
// ask for it (see tracing.Setup). The returned stop flushes the spans
// not yet exported; it logs, and does not fail on, a flush that fails.
func startTracing(ctx context.Context, logger *slog.Logger) (stop func(), err error) {
	shutdown, err := tracing.Setup(ctx, tracing.Options{ServiceVersion: version, Logger: logger})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			logger.Warn("tracing: spans not exported at exit", "err", err.Error())
		}
	}, nil
}
