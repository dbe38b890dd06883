// engine/limits.hpp: what a module may ask of the engine, checked before any other work.
//
// Every module is hostile. Before the module is parsed into an IR, instrumented, validated or
// compiled, one streaming pass over its bytes (no recursion, no allocation proportional to a
// count the module declares) checks it against these limits; a module over one is refused with
// an InvalidModule error naming the limit. They are the WebAssembly JS API's implementation
// limits where it has one (what browsers accept, so real toolchains stay under them), tighter
// where our passes need it (nesting depth, name length).
//
// The same pass checks the WebAssembly features the module uses against the accepted list
// (accepted_features()): a module using any other is refused naming the feature, identically
// on both tiers.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::engine {

struct ModuleLimits {
  uint64_t max_module_bytes = 64ull << 20;
  uint32_t max_types = 1'000'000;
  uint32_t max_params = 1'000;          // per function type
  uint32_t max_results = 1'000;         // per function type (multi-value)
  uint32_t max_imports = 100'000;
  uint32_t max_exports = 100'000;
  uint32_t max_name_bytes = 1'024;      // an import's module or field name, an export's name
  uint32_t max_functions = 1'000'000;   // defined functions
  uint32_t max_globals = 1'000'000;
  uint32_t max_tables = 100;
  uint64_t max_table_elements = 10'000'000;  // a table's initial size (growth is capped at instantiation)
  uint32_t max_data_segments = 100'000;
  uint32_t max_elem_segments = 100'000;
  uint64_t max_elem_segment_elements = 10'000'000;
  uint64_t max_function_bytes = 7'654'321;   // one function body
  uint64_t max_locals = 50'000;              // one function's locals (parameters not included)
  uint32_t max_nesting = 2'000;              // nested block/loop/if in one function
  uint32_t max_br_table_targets = 65'520;
};

// The WebAssembly features plugins may use (the real Extism PDKs need all of them): mutable
// globals, sign extension, non-trapping float-to-int, bulk memory, multi-value, reference types.
// Anything else (SIMD, threads, exceptions, tail calls, memory64, multi-memory, GC, ...) is refused.
const std::vector<std::string>& accepted_features();

// Ok, or InvalidModule naming the limit or the feature: "the module uses the WebAssembly feature
// \"simd\", which this server does not accept (accepted: ...)".
Result<void> check_module(std::span<const uint8_t> wasm, const ModuleLimits& limits = {});

}  // namespace wasimancer::engine
