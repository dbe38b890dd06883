// engine/instrument.hpp: the wasm rewriting pass shared by every tier.
//
// wabt's interpreter cannot be interrupted and wasm2c code runs to completion, so deadlines are
// enforced inside the module itself. The pass:
//   * validates the module (malformed or invalid wasm is rejected with offset and reason);
//   * adds one import, kRuntimeModule.kTickName : (i32 reason) -> i32, as the last function
//     import (every later function index is shifted by one);
//   * adds a mutable i32 "fuel" global, and at every loop header (and, with entry_checks, every
//     function entry):
//        if (fuel == 0) fuel = tick(kFuelExhausted);  fuel -= 1;
//     so the engine's tick handler runs every N iterations or calls; it checks the deadline and
//     the cancel flag, traps to stop the guest, or returns the next refill N. The native tier
//     turns entry_checks off: its function prologue already compares the stack pointer with a
//     limit (stack exhaustion), and a watchdog raises that limit when the deadline passes, so
//     loop-free recursion stops without a counter store on every call; for the same reason it
//     also skips the counter of a loop that calls a defined function before it can branch back;
//   * routes every memory.grow through an added function that calls tick(kMemoryGrowFailed)
//     when the grow fails, so exceeding the page limit traps with an out-of-memory error as
//     Extism reports it instead of returning -1.
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
// Bumped whenever the output of the pass changes (it is part of the native code cache key).
inline constexpr uint32_t kInstrumentVersion = 3;

enum TickReason : int32_t {
  kFuelExhausted = 0,
  kMemoryGrowFailed = 1,
};

struct Instrumented {
  std::vector<uint8_t> wasm;
};

struct InstrumentOptions {
  bool entry_checks = true;  // deadline checks at function entries (the interpreter needs them)
  bool validate = true;      // off when the caller validated the module already
};

Result<Instrumented> instrument(std::span<const uint8_t> wasm, const InstrumentOptions& options = {});

}  // namespace wasimancer::engine
