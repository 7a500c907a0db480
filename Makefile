# Benchmarks: `make bench` writes docs/benchmarks.md (see cmd/tsmcp-bench).
# Needs Go, Node.js and npm. About 5 minutes on 2 cores; run it on a quiet
# machine. `make bench-quick` is a ~2-minute smoke run whose numbers are
# marked provisional. Extra flags: make bench BENCH_FLAGS="-cell 10s".

export GOTOOLCHAIN := local

BENCH_BIN   ?= bench/bin
BENCH_FLAGS ?=

.PHONY: bench bench-quick bench-deps

# The tools measured, built from this tree, and the pinned npm packages
# (supergateway, @modelcontextprotocol/server-everything).
bench-deps:
	npm ci --prefix bench/npm --no-audit --no-fund
	go build -o $(BENCH_BIN)/tsmcp ./cmd/tsmcp
	go build -o $(BENCH_BIN)/tsmcp-bench ./cmd/tsmcp-bench

bench: bench-deps
	$(BENCH_BIN)/tsmcp-bench -tsmcp $(BENCH_BIN)/tsmcp -npm bench/npm \
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
