# syntax=docker/dockerfile:1
#
# tsmcp container images. One Dockerfile, two targets, the same entrypoint,
# HEALTHCHECK, user (65532, non-root) and layout in both:
#
#   static   (the default, last target) the binary on distroless/static:
#            no shell, no runtimes. For built-in tools, http tools and
#            url (remote) upstreams only.
#   runtime  Debian with Node.js (node, npm, npx) and Python 3 (python3,
#            venv, pip), plus MCP server packages baked in at build time
#            under /opt/tsmcp, pinned. For stdio upstreams (package: or
#            command:) and exec tools that need a shell or coreutils.
#
#   docker build -t tsmcp:static .
#   docker build --target runtime -t tsmcp:runtime \
#     --build-arg NPM_PACKAGES="@modelcontextprotocol/server-everything@2026.8.31" \
#     --build-arg PYTHON_PACKAGES="tsmcp-example-server==0.1.0" .
#   (or `make image-static image-runtime`; deploy/README.md "Images")
#
# Base images are build args, so the same file builds from registry images
# in production and from locally made ones offline (`make image-bases`).
# Pin them by digest in production (NAME:TAG@sha256:...).
#
# Config: /etc/tsmcp/tsmcp.yaml (mount a file or ConfigMap there, or bake
#         it in with deploy/ecs/Dockerfile.config), or run `serve` without
#         --config and configure with TSMCP_* variables.
# State:  /var/lib/tsmcp, a volume owned by 65532, for the default
#         tailnet.state (a directory). With kube:, arn:aws:ssm: or mem:
#         state the node keeps only a temporary directory under $TMPDIR.
# Writable: only /var/lib/tsmcp and /tmp (both volumes) are written to;
#         the root filesystem may be read-only (HOME, caches and TMPDIR
#         point at /tmp).
# Ports:  8080, the plain-HTTP health listener (/health, /readyz). MCP is
#         served only on the node's tailnet address, never on a port here.
#
# deploy/docker_test.go parses this file with buildkit's parser: it checks
# every target's invariants and builds the binary with the exact `go build`
# line below.

ARG GO_IMAGE=golang:1.26
ARG STATIC_BASE=gcr.io/distroless/static-debian12:nonroot
ARG RUNTIME_BASE=debian:trixie-slim

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
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

# --- runtime: Node.js and Python from the base's Debian packages ---------
FROM ${RUNTIME_BASE} AS runtime-base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs npm python3 python3-venv ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && if ! grep -q '^nonroot:' /etc/passwd; then \
      echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' >> /etc/passwd \
      && echo 'nonroot:x:65532:' >> /etc/group; fi

# --- packages: the baked MCP servers, installed into /opt/tsmcp ----------
# NPM_PACKAGES: space-separated name@version, each an exact version.
# PYTHON_PACKAGES: space-separated name==version, each an exact version.
# PIP_INDEX_ARGS: where pip looks. The default uses only /wheels (the
#   wheels of deploy/images/python/* built below, and any *.whl put in
#   deploy/images/wheels): no index. Use "--find-links /wheels" to also
#   use PyPI (or --index-url for a private mirror).
FROM runtime-base AS packages
ARG NPM_PACKAGES="@modelcontextprotocol/server-everything@2026.8.31"
ARG PYTHON_PACKAGES="tsmcp-example-server==0.1.0"
ARG PIP_INDEX_ARGS="--no-index --find-links /wheels"
RUN DEBIAN_FRONTEND=noninteractive apt-get update \
 && apt-get install -y --no-install-recommends python3-setuptools python3-wheel python3-pip
COPY deploy/images/ /src/images/
RUN set -eu; mkdir -p /wheels; cp /src/images/wheels/*.whl /wheels/ 2>/dev/null || true; \
    for d in /src/images/python/*/; do \
      python3 -m pip wheel --no-index --no-build-isolation --no-deps --wheel-dir /wheels "$d"; \
    done
RUN set -eu; \
    for p in $NPM_PACKAGES; do \
      echo "$p" | grep -Eq '^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*@[0-9][0-9A-Za-z.+-]*$' \
        || { echo "NPM_PACKAGES: $p is not name@exact-version" >&2; exit 1; }; \
    done; \
    for p in $PYTHON_PACKAGES; do \
      echo "$p" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*$' \
        || { echo "PYTHON_PACKAGES: $p is not name==exact-version" >&2; exit 1; }; \
    done; \
    mkdir -p /opt/tsmcp/npm; \
    if [ -n "$NPM_PACKAGES" ]; then \
      npm install --global --prefix /opt/tsmcp/npm --omit=dev --no-audit --no-fund \
        --no-update-notifier --cache /tmp/npm-cache $NPM_PACKAGES; \
      rm -rf /tmp/npm-cache; \
    fi; \
    python3 -m venv /opt/tsmcp/python; \
    if [ -n "$PYTHON_PACKAGES" ]; then \
      /opt/tsmcp/python/bin/pip install --no-cache-dir --disable-pip-version-check \
        $PIP_INDEX_ARGS $PYTHON_PACKAGES; \
    fi; \
    { echo "npm: $NPM_PACKAGES"; echo "python: $PYTHON_PACKAGES"; } > /opt/tsmcp/PACKAGES

FROM runtime-base AS runtime
COPY --from=packages /opt/tsmcp /opt/tsmcp
COPY --from=build /out/tsmcp /tsmcp
COPY --from=build --chown=65532:65532 /out/state /var/lib/tsmcp
ENV PATH=/opt/tsmcp/npm/bin:/opt/tsmcp/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    npm_config_cache=/tmp/.npm \
    npm_config_update_notifier=false \
    npm_config_offline=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_INDEX=1 \
    PIP_NO_CACHE_DIR=1
USER 65532:65532
VOLUME ["/var/lib/tsmcp", "/tmp"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/tsmcp", "health"]
ENTRYPOINT ["/tsmcp"]
CMD ["serve", "--config", "/etc/tsmcp/tsmcp.yaml"]

# --- static: the default target ------------------------------------------
FROM ${STATIC_BASE} AS static
COPY --from=build /out/tsmcp /tsmcp
COPY --from=build --chown=65532:65532 /out/state /var/lib/tsmcp
ENV HOME=/tmp \
    TMPDIR=/tmp
USER 65532:65532
VOLUME ["/var/lib/tsmcp", "/tmp"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/tsmcp", "health"]
ENTRYPOINT ["/tsmcp"]
CMD ["serve", "--config", "/etc/tsmcp/tsmcp.yaml"]
