# syntax=docker/dockerfile:1
#
# tsmcp container image: one static binary on distroless, running as the
# distroless "nonroot" user (65532).
#
#   docker build -t tsmcp \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#
# Config: /etc/tsmcp/tsmcp.yaml (mount a file or ConfigMap there), or run
#         `serve` without --config and configure with TSMCP_* variables.
# State:  /var/lib/tsmcp, a volume owned by 65532, for the default
#         tailnet.state (a directory). With kube:, arn:aws:ssm: or mem:
#         state the node keeps only a temporary directory under $TMPDIR
#         (default /tmp), which must be writable.
# Ports:  8080, the plain-HTTP health listener (/health, /readyz). MCP is
#         served only on the node's tailnet address, never on a port here.
#
# deploy/deploy_test.go builds the binary with the exact `go build` line
# below (it parses it from this file) and checks that it is static.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/tsmcp ./cmd/tsmcp
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tsmcp /tsmcp
COPY --from=build --chown=65532:65532 /out/state /var/lib/tsmcp
USER 65532:65532
VOLUME ["/var/lib/tsmcp"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/tsmcp", "health"]
ENTRYPOINT ["/tsmcp"]
CMD ["serve", "--config", "/etc/tsmcp/tsmcp.yaml"]
