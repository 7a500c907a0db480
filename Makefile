# Benchmarks: `make bench` writes docs/benchmarks.md (see cmd/tsmcp-bench).
# Needs Go, Node.js and npm. About 7 minutes on 2 cores; run it on a quiet
# machine. `make bench-quick` is a ~3-minute smoke run whose numbers are
# marked provisional. Extra flags: make bench BENCH_FLAGS="-cell 10s";
# one part or server only: BENCH_FLAGS="-parts calls -servers tsmcp,sidecar".

export GOTOOLCHAIN := local

BENCH_BIN   ?= bench/bin
BENCH_FLAGS ?=

.PHONY: bench bench-quick bench-deps

# The tools measured, built from this tree, the pinned npm packages
# (supergateway, @modelcontextprotocol/server-everything), and the sidecar
# anchor's tailscaled and tailscale CLI at the tailscale.com version go.mod
# pins, built in their own module (bench/tools: tailscale.com's dependency
# graph, kept out of ours).
bench-deps:
	npm ci --prefix bench/npm --no-audit --no-fund
	go build -o $(BENCH_BIN)/tsmcp ./cmd/tsmcp
	go build -o $(BENCH_BIN)/tsmcp-bench ./cmd/tsmcp-bench
	cd bench/tools && go build -o $(abspath $(BENCH_BIN))/ tailscale.com/cmd/tailscaled tailscale.com/cmd/tailscale

bench: bench-deps
	$(BENCH_BIN)/tsmcp-bench -tsmcp $(BENCH_BIN)/tsmcp -npm bench/npm \
		-tailscaled $(BENCH_BIN)/tailscaled -tailscale $(BENCH_BIN)/tailscale \
		-out docs/benchmarks.md -profile-dir bench/profiles $(BENCH_FLAGS)

bench-quick:
	$(MAKE) bench BENCH_FLAGS="-quick $(BENCH_FLAGS)"

# Soak: `make soak` runs the tsmcp host (a child process) under abuse from
# many identities for SOAK_DURATION (default 10m; about 1 more minute of
# warm-up and settling), then prints its RSS, goroutines, fds and child
# processes at start and end and fails if any grew beyond its bound (see
# cmd/tsmcp-soak). Example: make soak SOAK_DURATION=2m
SOAK_DURATION ?= 10m

.PHONY: soak
soak:
	go run ./cmd/tsmcp-soak -duration $(SOAK_DURATION)

# --- Container images (Dockerfile; deploy/README.md "Images") -------------
# CONTAINER is the build/run tool: docker, or podman (as on the dev
# machines: CONTAINER="podman --storage-driver vfs --runtime runc
# --cgroup-manager cgroupfs", see `make image-bases`).
CONTAINER       ?= docker
IMAGE           ?= tsmcp
VERSION         ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
COMMIT          ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
NPM_PACKAGES    ?= @modelcontextprotocol/server-everything@2026.8.31
PYTHON_PACKAGES ?= tsmcp-example-server==0.1.0
PIP_INDEX_ARGS  ?= --no-index --find-links /wheels
# The ECS image: the runtime image plus this config (deploy/ecs/README.md).
ECS_CONFIG      ?= deploy/ecs/tsmcp.yaml
ECS_IMAGE       ?= $(IMAGE):ecs

# Extra build flags; with podman use BUILD_FLAGS=--format=docker, or the
# image's HEALTHCHECK is dropped (OCI images have none).
BUILD_FLAGS     ?=

IMAGE_BUILD = $(CONTAINER) build $(BUILD_FLAGS) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT)

.PHONY: image-static image-runtime image-ecs image-bases image-test

image-static:
	$(IMAGE_BUILD) --target static -t $(IMAGE):static .

image-runtime:
	$(IMAGE_BUILD) --target runtime -t $(IMAGE):runtime \
		--build-arg NPM_PACKAGES="$(NPM_PACKAGES)" \
		--build-arg PYTHON_PACKAGES="$(PYTHON_PACKAGES)" \
		--build-arg PIP_INDEX_ARGS="$(PIP_INDEX_ARGS)" .

# One command for ECS: the runtime image with the config baked in and
# checked (`tsmcp check` runs at build time, so a package the config names
# but the image lacks fails the build). The build context is the config's
# directory: nothing else goes into the image.
image-ecs: image-runtime
	$(CONTAINER) build $(BUILD_FLAGS) -f deploy/ecs/Dockerfile.config \
		--build-arg TSMCP_IMAGE=$(IMAGE):runtime \
		--build-arg CONFIG=$(notdir $(ECS_CONFIG)) -t $(ECS_IMAGE) $(dir $(ECS_CONFIG))

# Offline base images for podman on the dev machines (no registry there):
# Debian from debootstrap, golang = Debian + this machine's Go, and a
# distroless/static stand-in, tagged with the names the Dockerfile uses.
image-bases:
	deploy/images/make-bases.sh

# Builds both images and runs them with no network but loopback (plus a
# veth pair with no route), a read-only root and uid 65532
# (deploy/image_test.go). Needs root, nsenter and ip. Slow with vfs.
image-test: image-static image-runtime
	TSMCP_IMAGE_TEST=1 TSMCP_IMAGE_CONTAINER="$(CONTAINER)" \
	TSMCP_IMAGE_STATIC=$(IMAGE):static TSMCP_IMAGE_RUNTIME=$(IMAGE):runtime \
		go test -count=1 -timeout 30m -v -run 'TestImage' ./deploy/

# --- Release archives (.goreleaser.yaml; docs/deploy.md "Releases") -----
# A GoReleaser snapshot of every archive (linux, darwin, windows x amd64,
# arm64; checksums; SBOMs) in dist/, nothing published, then the checks CI
# runs on it (deploy/release_test.go; CI builds linux/amd64 alone). The
# first run builds goreleaser and cyclonedx-gomod from the Go module proxy
# (.ci/tool). Some platforms only: make release-snapshot
# RELEASE_TARGETS=linux/amd64,darwin/arm64 (empty: every platform).
RELEASE_TARGETS :=

.PHONY: release-snapshot
release-snapshot:
	RELEASE_TARGETS=$(RELEASE_TARGETS) .ci/release-check dist
	RELEASE_TARGETS=$(RELEASE_TARGETS) RELEASE_DIST=$(CURDIR)/dist go test -count=1 -run 'TestRelease' -v ./deploy/
