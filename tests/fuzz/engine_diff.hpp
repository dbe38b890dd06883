// tests/fuzz/engine_diff.hpp: differential fuzzing of the two engine tiers.
//
// Binaryen's `wasm-opt --translate-to-fuzz` turns random bytes (from a seed) into a valid module
// that imports "fuzzing-support" log functions. Each module runs on the interpreter and on the
// native tier, the way binaryen's own --fuzz-exec runs it: instantiate, then call every exported
// function in export order (after "hangLimitInitializer", which bounds the module's loops and
// recursion), arguments zero, funcref arguments null. The two tiers must agree on everything
// they report: each call's results (NaNs compared as "some NaN": their payloads are not
// deterministic in WebAssembly), each trap's class (out of bounds, unreachable, divide by zero,
// call stack exhausted, ...), the host's log calls in order (NaN-normalised too), the exported
// memory after each call (its size, and a hash of every byte for modules made with binaryen's
// --denan, 3 seeds in 4: a module that computes NaNs may store different payloads on the two
// tiers, both correct), and the instantiation's outcome. Exhaustion is part of the agreement: both tiers count the stack in
// the same units (engine/instrument.hpp), so a recursion traps at the same depth on both, not at
// a depth that depends on the machine's stack. A call that times out on either tier (a generous
// deadline) ends the comparison of that module: what follows is excluded, not compared.
//
// Ownership: plain values. Thread safety: run_differential uses its own threads; the functions
// keep no global state except the native build cache on disk (shared safely, engine/native.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/native.hpp"

namespace wasimancer::fuzz {

// What one tier did with a module: one line per event ("instantiate: ok", "log-i32 7",
// "call func_0: i32 5", "call func_1: trap out of bounds", "call f: timeout").
struct Trace {
  std::vector<std::string> events;
  bool timed_out = false;  // the last call timed out
  // With keep_memory: the memory at each "memory:" event, by event index (to find a difference).
  std::map<size_t, std::vector<uint8_t>> memories;
};

// Runs `wasm` on one tier. `native` null: the interpreter. Without `compare_memory` the memory
// events carry only the size: a module that may store NaNs can store different payloads on the
// two tiers, both correct.
Trace run_tier(std::span<const uint8_t> wasm, std::shared_ptr<const engine::NativeCode> native,
               std::chrono::milliseconds call_timeout, bool compare_memory = true, bool keep_memory = false);

// The first difference between two traces ("" if they agree). Events after a timeout on either
// side are not compared.
std::string compare_traces(const Trace& interp, const Trace& native);

// The module binaryen makes from `seed` (input_bytes random bytes from the seed; reference types
// for every other seed, falling back to the rest of the accepted features when binaryen 108's
// output does not validate); nullopt with `why` set if wasm-opt failed.
struct Generated {
  std::vector<uint8_t> wasm;
  // Made with binaryen's --denan (3 seeds in 4): no NaN is ever computed, so the memory can be
  // compared byte for byte. The other seeds keep NaNs (their values are compared as "nan").
  bool denan = false;
};
std::optional<Generated> generate_module(uint64_t seed, size_t input_bytes, const std::filesystem::path& work_dir,
                                         std::string* why);
bool denan_seed(uint64_t seed);

struct DiffOptions {
  uint64_t first_seed = 1;
  uint64_t count = 200;                   // modules (seeds first_seed, first_seed+1, ...)
  std::chrono::seconds budget{60};        // stop after this long, whichever comes first...
  uint64_t min_modules = 0;               // ...once at least this many modules were compared
  size_t input_bytes = 1024;              // random bytes per module (larger: bigger modules)
  unsigned jobs = 2;                      // native builds in parallel
  std::chrono::milliseconds call_timeout{20'000};
  std::filesystem::path work_dir;         // generated modules; disagreeing ones are kept here
  engine::NativeOptions native;           // where and how native builds are made (cached)
  std::function<void(const std::string&)> progress;  // a line per finding and at the end
};

struct DiffReport {
  uint64_t modules = 0;      // generated and compared
  uint64_t agreed = 0;
  uint64_t calls = 0;        // export calls compared
  uint64_t timeouts = 0;     // modules whose comparison stopped at a timeout
  uint64_t skipped = 0;      // not compared: binaryen made no valid module (see notes)
  double seconds = 0;
  std::vector<std::string> findings;  // "seed N: <difference or native build failure> (kept as FILE)"
  std::vector<std::string> notes;     // why modules were skipped
};

DiffReport run_differential(const DiffOptions& options);

}  // namespace wasimancer::fuzz
