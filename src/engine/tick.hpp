// engine/tick.hpp: what both tiers do when instrumented code calls the tick import (internal to
// the engine). Thread safety: pure function of its arguments.
#pragma once

#include <optional>

#include "engine/instance.hpp"
#include "engine/instrument.hpp"

namespace wasimancer::engine {

// nullopt: the call may go on (the caller refills the fuel); otherwise the trap that stops it.
inline std::optional<Trap> tick_trap(int32_t reason, const CallControl* control) {
  if (reason == kMemoryGrowFailed) {
    return Trap{ErrorKind::OutOfMemory, "oom: memory.grow exceeded the plugin's memory limit", std::nullopt};
  }
  if (reason == kStackExhausted) return Trap{ErrorKind::Trap, "wasm trap: call stack exhausted", std::nullopt};
  if (control && control->cancel && control->cancel->load(std::memory_order_relaxed)) {
    return Trap{ErrorKind::Cancelled, "cancelled: the call was cancelled", std::nullopt};
  }
  if (control && control->deadline.expired()) {
    return Trap{ErrorKind::Timeout, "timeout: the call exceeded its time limit", std::nullopt};
  }
  return std::nullopt;
}

}  // namespace wasimancer::engine
