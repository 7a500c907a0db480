package declared

import (
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tsmcp/tsmcp/internal/tracing"
)

// Traces: an http tool's request is a client span "{METHOD}" under the
// caller's request span, with the method, the target's host and port and
// the response's status. Never the URL's path or query (they hold
// argument values and may hold {{env}} secrets), nor any header. The
// target gets the span's W3C traceparent header, unless the tool's
// configuration sets one itself. Without a recording request span nothing
// is started or sent, and req is returned as is.

// startHTTPSpan starts the client span of req and returns req under it,
// with its traceparent header.
func startHTTPSpan(req *http.Request) (*http.Request, trace.Span) {
	ctx, span := tracing.StartClient(req.Context(), req.Method, "")
	if !span.IsRecording() {
		return req, span
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Hostname()),
		attribute.String("url.scheme", req.URL.Scheme),
	}
	if p := req.URL.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	span.SetAttributes(attrs...)
	req = req.WithContext(ctx)
	if req.Header.Get("Traceparent") == "" {
		req.Header.Set("Traceparent", tracing.Traceparent(ctx))
	}
	return req, span
}

// endHTTPSpan ends the span of a request that got resp or err. A status
// of 400 or more, and a failed request, fail the span; error.type is the
// status code, "blocked" (the dial guard refused the address) or
// "request_failed", never an error's text.
func endHTTPSpan(span trace.Span, resp *http.Response, err error) {
	if !span.IsRecording() {
		return
	}
	var be *blockedError
	switch {
	case errors.As(err, &be):
		tracing.Fail(span, "blocked", true)
	case err != nil:
		tracing.Fail(span, "request_failed", true)
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 400 {
			tracing.Fail(span, strconv.Itoa(resp.StatusCode), true)
		}
	}
	span.End()
}
