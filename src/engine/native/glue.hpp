// engine/native/glue.hpp: generates the C glue between wasm2c's output and the host
// (internal to the engine). Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "engine/types.hpp"

namespace wasimancer::engine::native {

inline constexpr uint32_t kGlueVersion = 6;
inline constexpr uint32_t kTickImport = 0xffffffffu;

struct Glue {
  std::string source;  // glue.c: includes wm_rt.c, m.h and m.c, then the imports and entry points
};

// `header` is wasm2c's m.h for module name "m", made from a module instrumented with safe_names
// (engine/instrument.hpp): imports are "h"."i<k>" (k: the host's import index) and "h"."t" (the
// tick), exports "e<k>" (k: the index among the module's exports) and "s" (the stack units).
// wm_call's and wm_global's export index is k. Every exported function is callable, whatever
// its parameters and results (numbers, references, several results); every exported global is
// readable. Values cross as 64-bit slots (engine/types.hpp): float bit patterns are copied, never
// converted, so NaN payloads survive. Any other name in the header is an error: no name of the
// module's choosing is ever copied into C.
Result<Glue> generate_glue(const std::string& header, size_t import_count);

}  // namespace wasimancer::engine::native
