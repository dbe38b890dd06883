// libFuzzer target: the instrumentation pass. For any bytes that instrument, in either flavour
// (the interpreter's, and the native tier's with safe names), the output must be a valid module
// (wabt's validator, with the accepted features) within the limits: a
// pass that emits an invalid module would be caught here before wasm2c or wabt sees it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <cstdlib>
#include <span>

#include "engine/instrument.hpp"
#include "engine/limits.hpp"
#include "engine/wabt_util.hpp"

#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/ir.h"
#include "wabt/validator.h"

using namespace wasimancer::engine;

namespace {

// "" if `wasm` is valid, else wabt's reasons.
std::string problems(const std::vector<uint8_t>& wasm) {
  wabt::Errors errors;
  wabt::Module ir;
  wabt::ReadBinaryOptions opts(wasm_features(), nullptr, false, true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("fuzz.wasm", wasm.data(), wasm.size(), opts, &errors, &ir))) {
    return "malformed: " + format_wabt_errors(errors);
  }
  wabt::ValidateOptions vopts(wasm_features());
  if (wabt::Failed(wabt::ValidateModule(&ir, &errors, vopts))) return "invalid: " + format_wabt_errors(errors);
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> wasm(data, size);
  for (int flavour = 0; flavour < 2; ++flavour) {
    InstrumentOptions o;
    o.entry_checks = flavour == 0;
    o.safe_names = flavour == 1;
    auto r = instrument(wasm, o);
    if (!r.ok()) continue;
    if (auto p = problems(r->wasm); !p.empty()) {
      std::fprintf(stderr, "flavour %d: the instrumented module is %s\n", flavour, p.c_str());
      std::abort();
    }
    if (auto c = check_module(r->wasm); !c.ok()) {
      std::fprintf(stderr, "flavour %d: the instrumented module fails check_module: %s\n", flavour, c.error().message.c_str());
      std::abort();
    }
  }
  return 0;
}
