// engine/interp_code.hpp: the interpreter's prepared form of a Module (internal to engine).
//
// Ownership: owned by its Module, filled once by Module::interp_code() (call_once) and
// immutable afterwards. Thread safety: once filled, read concurrently by every instantiation
// (each copies `desc` into its own Store).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "engine/module.hpp"
#include "engine/types.hpp"
#include "wabt/interp/interp.h"

namespace wasimancer::engine {

struct Module::InterpCode {
  std::once_flag once;
  std::optional<Error> error;     // why the module could not be prepared (should not happen)
  wabt::interp::ModuleDesc desc;  // parsed and validated once; copied into each instance's Store
  uint32_t tick_import = 0;       // index of the instrumentation import in desc.imports
};

ValType from_wabt(wabt::Type t);
ExternKind from_wabt(wabt::ExternalKind k);
FuncType from_wabt(const wabt::interp::FuncType& ft);

}  // namespace wasimancer::engine
