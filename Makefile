# wasimancer: every command installs what is missing first (scripts/install-deps.sh).
#   make run     build, then start the server with the bundled examples on port 3001
#   make test    build, then run every test suite (unit, plugin, integration)
#   make bench   release build, then the benchmarks (bench/RESULTS.md)
#   make sanitize  AddressSanitizer + UBSan build (build-asan), then every test suite with it
#   make spec    the WebAssembly spec test suite on both tiers, every file (make test runs a subset)
#   make fuzz    every libFuzzer target and the differential fuzzer of the two tiers on an
#                instrumented build (build-fuzz), FUZZ_SECONDS each (default 60)
#   make soak    the soak run against build/, SOAK_SECONDS long (default 600)
#   make tsan    ThreadSanitizer build (build-tsan), then the concurrent suites with it
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
SOAK_SECONDS ?= 600

.PHONY: all deps build run test bench sanitize spec fuzz soak tsan clean

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
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWASIMANCER_SANITIZE=ON -DWASIMANCER_FUZZ_COVERAGE=ON >/dev/null
	@cmake --build build-fuzz --target fuzz_all engine_fuzz_all spec_corpus test_plugins -j $(JOBS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build-fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/engine_run.sh build-fuzz

soak: build
	@WASIMANCER_BUILD=$(CURDIR)/$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/soak.sh

tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWASIMANCER_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target $$(tests/tsan/run.sh --targets)
	@tests/tsan/run.sh build-tsan

clean:
	rm -rf $(BUILD) build-release build-asan build-fuzz build-tsan
