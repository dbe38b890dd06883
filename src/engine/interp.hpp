// engine/interp.hpp: the interpreter tier (wabt's interpreter from libwabt.a).
//
// Each Instance has its own wabt Store, so instances share nothing and may run on different
// threads at once. Ownership and thread rules are those of engine::Instance.
#pragma once

#include <memory>

#include "core/error.hpp"
#include "engine/instance.hpp"
#include "engine/module.hpp"

namespace wasimancer::engine {

struct InstantiateResult;

// Instantiates `module` with `imports` (one entry per module import, in order) and runs its
// start function under `control`. `user_data` is handed to host functions through Caller.
// A start function that traps, times out or a memory that exceeds `limits` gives a Trap.
std::variant<std::unique_ptr<Instance>, Trap> instantiate_interp(std::shared_ptr<const Module> module,
                                                                 const ImportTable& imports, void* user_data,
                                                                 const InstanceLimits& limits,
                                                                 const CallControl& control);

}  // namespace wasimancer::engine
