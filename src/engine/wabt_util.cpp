#include "engine/wabt_util.hpp"

#include <fmt/format.h>

namespace wasimancer::engine {

wabt::Features wasm_features() {
  wabt::Features f;
  f.enable_bulk_memory();
  f.enable_sign_extension();
  f.enable_sat_float_to_int();
  f.enable_reference_types();
  f.enable_multi_value();
  f.enable_mutable_globals();
  f.disable_simd();  // on by default in wabt; refused (engine/limits.hpp: accepted_features)
  return f;
}

std::string format_wabt_errors(const wabt::Errors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (e.error_level != wabt::ErrorLevel::Error) continue;
    if (!out.empty()) out += "; ";
    if (e.loc.offset != 0) {
      out += fmt::format("at offset 0x{:x}: {}", e.loc.offset, e.message);
    } else {
      out += e.message;
    }
    if (out.size() > 2000) break;
  }
  if (out.empty()) out = "unknown error";
  return out;
}

}  // namespace wasimancer::engine
