// libFuzzer target: the module loader. Any bytes: check_module (limits and features) and
// Module::compile (validation, the module's shape) return a result, never crash, hang or leak;
// a module that compiles has its interpreter code prepared (the instrumentation pass and wabt's
// reader over the instrumented module), which must succeed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "engine/limits.hpp"
#include "engine/module.hpp"
#include "engine/interp_code.hpp"

using namespace wasimancer::engine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> wasm(data, size);
  auto checked = check_module(wasm);
  auto m = Module::compile(wasm);
  if (m.ok() && !checked.ok()) {  // compile runs check_module first
    std::fprintf(stderr, "compiled, but check_module refused it: %s\n", checked.error().message.c_str());
    std::abort();
  }
  if (!m.ok()) return 0;
  const auto& code = (*m)->interp_code();
  if (code.error) {  // a valid module always instruments into a valid one
    std::fprintf(stderr, "compiled, but its interpreter code failed: %s\n", code.error->message.c_str());
    std::abort();
  }
  return 0;
}
