# wasimancer: every command installs what is missing first (scripts/install-deps.sh).
#   make run     build, then start the server with the bundled examples on port 3001
#   make test    build, then run every test suite (unit, plugin, integration)
#   make bench   release build, then the benchmarks (bench/RESULTS.md)
#   make sanitize  AddressSanitizer + UBSan build (build-asan), then every test suite with it
#   make spec    the WebAssembly spec test suite on both tiers, every file (make test runs it too)
#   make fuzz    the engine's fuzzers (libFuzzer + the differential fuzzer of the two tiers) on an
#                instrumented build (build-fuzz), FUZZ_SECONDS each (default 60)
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test bench sanitize spec fuzz clean

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

spec: build
	@scripts/run-spec.sh $(BUILD)

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWASIMANCER_SANITIZE=ON \
	  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
	@cmake --build build-fuzz --target engine_fuzz_all spec_corpus test_plugins -j $(JOBS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/engine_run.sh build-fuzz

clean:
	rm -rf $(BUILD) build-release build-asan build-fuzz
