# wasimancer: every command installs what is missing first (scripts/install-deps.sh).
#   make run     build, then start the server with the bundled examples on port 3001
#   make test    build, then run every test suite (unit, plugin, integration)
#   make bench   release build, then the benchmarks (bench/RESULTS.md)
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run-examples.sh $(BUILD)

test: build
	@scripts/run-tests.sh $(BUILD)

bench: 
	@scripts/install-deps.sh --bench
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWASIMANCER_BENCH=ON >/dev/null
	@cmake --build build-release -j $(JOBS)
	@scripts/run-bench.sh build-release

clean:
	rm -rf $(BUILD) build-release
