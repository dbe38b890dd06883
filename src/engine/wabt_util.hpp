// engine/wabt_util.hpp: helpers shared by the engine's uses of wabt (internal to engine).
// Thread safety: pure functions.
#pragma once

#include <string>

#include "wabt/error.h"
#include "wabt/feature.h"

namespace wasimancer::engine {

// The wasm features plugins may use (engine/limits.hpp: accepted_features): bulk memory, sign
// extension, non-trapping float-to-int, reference types, multi-value, mutable globals. Nothing else.
wabt::Features wasm_features();

// "at offset 0x1a: <message>" for each error, joined by "; ".
std::string format_wabt_errors(const wabt::Errors& errors);

}  // namespace wasimancer::engine
