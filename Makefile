# wasimancer: every command installs what is missing first (scripts/install-deps.sh).
#   make run        build the server and the example plugins, then serve the state folder
#                   (STATE, default ./state: created once from examples/, kept across runs)
#                   on http://localhost:3001 (HTTP_PORT overrides the port)
#   make run-reset  the same, after deleting the state folder (starts over from examples/)
#   make server     build only what serving needs: the wasimancer binary and the example plugins
#   make install    install the binary, man page, bash completion and systemd unit under PREFIX
#                   (default /usr/local; DESTDIR is honoured): `make server && sudo make install`
#   make test       build everything, then run every test suite
#   make bench      release build, then the benchmarks (bench/RESULTS.md)
#   make sanitize   AddressSanitizer + UBSan build (build-asan), then every test suite with it
#   make spec       the WebAssembly spec test suite on both tiers, every file (make test runs a subset)
#   make fuzz       every libFuzzer target and the differential fuzzer of the two tiers on an
#                   instrumented build (build-fuzz), FUZZ_SECONDS each (default 60)
#   make soak       the soak run against build/, SOAK_SECONDS long (default 600)
#   make tsan       ThreadSanitizer build (build-tsan), then the concurrent suites with it
SHELL      := /bin/bash
BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
STATE      ?= state
PREFIX     ?= /usr/local
DESTDIR    ?=
SOAK_SECONDS ?= 600

# No "Entering/Leaving directory" lines from the make that cmake --build runs.
MAKEFLAGS += --no-print-directory
# The build's own output, without the lines that say nothing (cmake's dependency scans).
# (grep finding no line to print is not a failure; cmake's own failure still is, through pipefail.)
QUIET_BUILD = { grep --line-buffered -v -e '^Consolidate compiler generated dependencies' -e '^\[ *[0-9]*%\] Built target' || true; }

.PHONY: all deps deps-serve configure build server run run-reset install test bench sanitize spec fuzz soak tsan clean

all: build

deps:
	@scripts/install-deps.sh

deps-serve:
	@scripts/install-deps.sh --serve

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

build: deps configure
	@set -o pipefail; cmake --build $(BUILD) -j $(JOBS) | $(QUIET_BUILD)

server: deps-serve configure
	@set -o pipefail; cmake --build $(BUILD) -j $(JOBS) --target wasimancer example_plugins | $(QUIET_BUILD)

# scripts/run-examples.sh checks the port before anything is installed, built or written (a
# second `make run` while one is serving stops there and touches nothing), then installs the
# Debian packages, builds what serving needs, creates the state folder if it does not exist, and
# serves it.
run:
	@BUILD_TYPE=$(BUILD_TYPE) JOBS=$(JOBS) scripts/run-examples.sh $(if $(RESET),--reset) $(BUILD) $(STATE)

run-reset:
	@BUILD_TYPE=$(BUILD_TYPE) JOBS=$(JOBS) scripts/run-examples.sh --reset $(BUILD) $(STATE)

install: server
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX) --strip

test: build
	@scripts/run-tests.sh $(BUILD)

bench:
	@scripts/install-deps.sh --bench
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DWASIMANCER_BENCH=ON >/dev/null
	@set -o pipefail; cmake --build build-release -j $(JOBS) | $(QUIET_BUILD)
	@scripts/run-bench.sh build-release

sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWASIMANCER_SANITIZE=ON >/dev/null
	@set -o pipefail; cmake --build build-asan -j $(JOBS) | $(QUIET_BUILD)
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

# The state folder of `make run` is yours (published plugins live there): `make clean` keeps it.
clean:
	rm -rf $(BUILD) build-release build-asan build-fuzz build-tsan
