// engine/instrument.hpp: the wasm rewriting pass shared by every tier.
//
// wabt's interpreter cannot be interrupted and wasm2c code runs to completion, so deadlines,
// stack depth and memory failures are enforced inside the module itself. The pass:
//   * checks the module's limits and features (engine/limits.hpp) and validates it;
//   * adds one import, kRuntimeModule.kTickName : (i32 reason) -> i32, as the last function
//     import (every later function index is shifted by one);
//   * adds a mutable i32 "fuel" global, and at every loop header (and, with entry_checks, every
//     function entry):
//        if (fuel == 0) fuel = tick(kFuelExhausted);  fuel -= 1;
//     so the engine's tick handler runs every N iterations or calls; it checks the deadline and
//     the cancel flag, traps to stop the guest, or returns the next refill N. The native tier
//     turns entry_checks off: its function prologue already compares the stack pointer with a
//     limit, and a watchdog raises that limit when the deadline passes, so loop-free recursion
//     stops without a counter store on every call; for the same reason it also skips the
//     counter of a loop that calls a defined function before it can branch back;
//   * adds a mutable i32 "stack" global that counts the stack the running calls use, in units
//     of one value: every defined function adds its frame size (parameters + locals + the most
//     values its body can hold on the operand stack, at least kMinFrameUnits) on entry and
//     subtracts it on every way out; going over kStackUnits calls tick(kStackExhausted), which
//     traps with "call stack exhausted". The same bound on both tiers: the interpreter's value
//     stack is bounded (kStackUnits values) and its frame stack never reaches wabt's own limit
//     (whose handling of call_indirect is faulty in wabt 1.0.32), and unbounded recursion is a
//     stack trap on the native tier whatever the optimiser does. The global is exported as
//     kStackExport so the engine resets it before each call (a trap leaves it raised);
//   * routes every memory.grow through an added function: growing past the memory's declared
//     maximum (or kMaxMemoryPages) returns -1 as the spec says; a grow the engine refuses below
//     that (the plugin's memory limit) calls tick(kMemoryGrowFailed), which traps with Extism's
//     out-of-memory error;
//   * with safe_names (native tier), renames every import to "h"."i<k>" (k: its index among the
//     module's imports) and every export to "e<k>" (k: its index among the module's exports), so
//     no name of the module's choosing reaches generated C.
// The start function is instrumented too, so a start section that never returns times out.
//
// Thread safety: pure function; safe to call concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace wasimancer::engine {

inline constexpr std::string_view kRuntimeModule = "wasimancer:engine";
inline constexpr std::string_view kTickName = "tick";
// The stack-units global, exported under this name (or "s" with safe_names).
inline constexpr std::string_view kStackExport = "wasimancer:stack";
inline constexpr std::string_view kSafeStackExport = "s";
// Bumped whenever the output of the pass changes (it is part of the native code cache key).
inline constexpr uint32_t kInstrumentVersion = 4;

// The stack budget of one call, in values (16 bytes each on the interpreter: 24 MiB), and the
// least a frame costs (so at most kStackUnits / kMinFrameUnits = 1500 nested calls).
inline constexpr int32_t kStackUnits = 1'500'000;
inline constexpr int32_t kMinFrameUnits = 1'000;
// The largest memory either tier holds (wasm2c's runtime keeps the byte size in 32 bits).
inline constexpr uint32_t kMaxMemoryPages = 65535;

enum TickReason : int32_t {
  kFuelExhausted = 0,
  kMemoryGrowFailed = 1,
  kStackExhausted = 2,
};

struct Instrumented {
  std::vector<uint8_t> wasm;
};

struct InstrumentOptions {
  bool entry_checks = true;  // deadline checks at function entries (the interpreter needs them)
  bool validate = true;      // off when the caller validated the module already
  bool safe_names = false;   // rename imports and exports (the native tier)
};

Result<Instrumented> instrument(std::span<const uint8_t> wasm, const InstrumentOptions& options = {});

}  // namespace wasimancer::engine
