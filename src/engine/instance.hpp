// engine/instance.hpp: what a tier instantiates and what host functions see.
//
// Ownership: an Instance owns its store, memories and globals; it borrows the Module it was made
// from (kept alive by the shared_ptr it holds) and the host function table (whose owner must
// outlive it). Thread safety: an Instance is used by one thread at a time (one call at a time);
// it may move between threads between calls. CallControl::cancel may be set from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "engine/types.hpp"

namespace wasimancer::engine {

class Module;

// The view of the running instance a host function gets. Valid only during that host call.
class Caller {
 public:
  virtual ~Caller() = default;
  // The guest's exported "memory" as it is now (empty if none). Re-read it after anything that
  // may grow memory.
  virtual std::span<uint8_t> memory() = 0;
  // The pointer given to instantiate(): the host's per-instance state.
  virtual void* user_data() = 0;
};

// Host functions return nullopt to let the guest continue, or a Trap to abort the call.
using HostResult = std::optional<Trap>;
using HostFn = std::function<HostResult(Caller&, std::span<const Slot> args, std::span<Slot> results)>;

struct HostFunc {
  FuncType type;
  HostFn fn;
};

// One entry per import of the module, in import order. Only function imports are supported.
using ImportTable = std::vector<const HostFunc*>;

// Per-call (and per-instantiation) execution control.
struct CallControl {
  Deadline deadline;                         // the call fails with a Timeout once it passes
  const std::atomic<bool>* cancel = nullptr; // set to true to stop the call (reported as Timeout)
};

struct InstanceLimits {
  uint32_t max_memory_pages = 65535;       // the plugin memory may not grow past this
  uint32_t max_table_elements = 10'000'000;  // nor any of its tables (a larger initial size fails)
};

using CallResult = std::variant<std::vector<Slot>, Trap>;

class Instance {
 public:
  virtual ~Instance() = default;

  // Calls an exported function. Never throws; every failure is a Trap.
  virtual CallResult call(std::string_view export_name, std::span<const Slot> args, const CallControl& control) = 0;

  // The value of the exported global `export_name` (a slot, see Slot), or nullopt if the module
  // exports no global of that name.
  virtual std::optional<Slot> global(std::string_view export_name) = 0;

  virtual std::span<uint8_t> memory() = 0;
  virtual const Module& module() const = 0;
  virtual std::string_view tier_name() const = 0;
};

}  // namespace wasimancer::engine
