# utcp: a user-space TCP stack over a TUN device.
#
#   make build   build ./utcp
#   make test    make lint, then every test with the race detector (what CI runs),
#                then the kernel tests (cmd/utcp/e2e) again with UTCP_E2E_OFFLOAD=1:
#                every TUN device opened with offload (virtio-net header, TSO).
#                As root, tests that need a TUN device run in a private network
#                namespace made by the test binary itself (tun/tuntest); as
#                another user they are skipped, or fail when CI=true.
#   make fuzz    every fuzz target for FUZZTIME each (FUZZTIME=1m make fuzz)
#   make bench   benchmarks, 5 runs each, then a table of medians and ratios
#   make stress  full sizes (UTCP_STRESS=1, root): the out-of-order flood with
#                200k segments, 100,000 sequential connections each way
#                (TestChurn) and the idle-connection benchmarks at 100,000
#                connections (memory per connection, keep-alive CPU); without
#                -race, whose shadow memory would swamp the figures
#   make lint    gofmt, go vet, staticcheck, and the sans-IO check of the core and host
#   make clean

# Fall back to the standard install location when go is not on PATH.
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
FUZZTIME ?= 10s
FUZZ_PKGS ?= ./...
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH | cut -d: -f1)/bin/staticcheck

.PHONY: all build test fuzz bench stress lint clean

all: build

build:
	$(GO) build -o utcp ./cmd/utcp

test: lint
	@if [ "$$(id -u)" != 0 ] && [ "$$CI" != true ]; then \
		echo "note: not root, so the tests that need a TUN device (tun, cmd/utcp/e2e) skip:"; \
		echo "      they need root/CAP_NET_ADMIN to create one in a private network namespace."; \
		echo "      'go test -v' names each skipped test; under CI=true they fail instead."; \
	fi
	$(GO) test -race -count=1 ./...
	@# The kernel tests again over TUN devices with checksum and segmentation offload.
	UTCP_E2E_OFFLOAD=1 $(GO) test -race -count=1 ./cmd/utcp/e2e

# Discover the fuzz targets of each package, so new ones are picked up.
# go test -fuzz takes one package and one target at a time.
fuzz:
	@set -e; \
	for pkg in $$($(GO) list $(FUZZ_PKGS)); do \
		targets=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$targets"; exit 1; }; \
		for target in $$(echo "$$targets" | grep '^Fuzz' || true); do \
			echo "== fuzz $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2000x $$pkg; \
		done; \
	done

# Every benchmark 5 times, then a table of the medians with each one's ratio
# to its reference measured in the same run (cmd/benchtable). The TUN
# benchmarks of cmd/utcp/e2e need root: they run in a private network
# namespace. benchtable exits 1 if a package failed.
bench:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	$(GO) test -run '^$$' -bench . -count 5 ./... 2>&1 | tee "$$out"; \
	$(GO) run ./cmd/benchtable < "$$out"

# The flood, churn and idle-connection tests at full size; each benchmark runs once.
stress:
	UTCP_STRESS=1 $(GO) test -count=1 -v -run '^TestStack_OutOfOrderFlood$$' ./tcp
	UTCP_STRESS=1 $(GO) test -count=1 -timeout 60m -run '^TestChurn' -bench '^Benchmark(IdleConns|KeepAliveCPU)$$' -benchtime 1x -v ./cmd/utcp/e2e

lint: $(STATICCHECK)
	@echo "== gofmt -l"; \
	out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "these files need gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@echo "== sans-IO core and host: tcp/tcb*.go and tcp/host*.go must not read the clock, start goroutines or lock"; \
	if grep -nE 'time\.Now|go func|sync\.' $$(ls tcp/tcb*.go tcp/host*.go | grep -v '_test\.go$$'); then exit 1; fi
	@echo "== the library builds for macOS and Windows too (wireguard-go's TUN runs there)"; \
	for os in darwin windows; do GOOS=$$os $(GO) build ./tcp/... ./ip ./tun || exit 1; done

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

clean:
	rm -f utcp
