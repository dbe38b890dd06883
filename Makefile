# wasimancer: every command installs what is missing first (scripts/install-deps.sh).
#   make run     build, then start the server with the bundled examples on port 3001
#   make test    build, then run every test suite (unit, plugin, integration)
#   make bench   release build, then the benchmarks (bench/RESULTS.md)
#   make sanitize  AddressSanitizer + UBSan build (build-asan), then every test suite with it
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test bench sanitize clean

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

sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWASIMANCER_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 scripts/run-tests.sh build-asan

clean:
	rm -rf $(BUILD) build-release build-asan
