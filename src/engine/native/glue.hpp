// engine/native/glue.hpp: generates the C glue between wasm2c's output and the host
// (internal to the engine). Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "engine/types.hpp"

namespace wasimancer::engine::native {

inline constexpr uint32_t kGlueVersion = 3;
inline constexpr uint32_t kTickImport = 0xffffffffu;

struct GlueExport {
  std::string name;
  uint32_t index;  // what wm_call takes
};

struct Glue {
  std::string source;  // glue.c: includes wm_rt.c, m.h and m.c, then the imports and entry points
  std::vector<GlueExport> exports;
};

// `header` is wasm2c's m.h for module name "m"; `imports` is the module's import list (without
// the instrumentation import), whose positions are the host's import indices.
Result<Glue> generate_glue(const std::string& header, const std::vector<ImportDesc>& imports);

}  // namespace wasimancer::engine::native
