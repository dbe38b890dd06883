// tests/support/engine_helpers.hpp: the engine suites' modules (wat compiled in-process) and
// their native builds, the tier the suite runs on, and a thread with a small stack.
//
// Ownership: modules and native code are shared (shared_ptr), as the engine shares them.
// Thread safety: the helpers keep no state and may run on any thread; native builds of one
// module are coordinated through the cache directory (engine/native.hpp).
#pragma once

#include <pthread.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "engine/module.hpp"
#include "engine/native.hpp"
#include "engine/watchdog.hpp"
#include "wat.hpp"

namespace wasimancer::test {

// The module `wat` describes, validated and instrumented; throws (failing the test) if invalid.
inline std::shared_ptr<const engine::Module> compile_wat(std::string_view wat) {
  auto m = engine::Module::compile(wat_to_wasm(wat));
  if (!m) throw std::runtime_error(m.error().message);
  return *m;
}

// Quick (-O0) native builds, cached in WASIMANCER_NATIVE_CACHE (as scripts/run-tests.sh sets it)
// or in a folder of the system's temporary directory.
inline engine::NativeOptions test_native_options() {
  engine::NativeOptions o;
  const char* shared = std::getenv("WASIMANCER_NATIVE_CACHE");
  o.cache_dir = shared ? std::filesystem::path(shared) : std::filesystem::temp_directory_path() / "wasimancer-test-native";
  o.opt_level = "-O0";
  return o;
}

// The native build of `module`; throws (failing the test) if it cannot be built.
inline std::shared_ptr<const engine::NativeCode> native_code(const engine::Module& module,
                                                             const engine::NativeOptions& options = test_native_options()) {
  auto c = engine::load_native(module, options);
  if (!c) throw std::runtime_error(c.error().message);
  return *c;
}

// The test binary's watchdog (the application owns one: engine/watchdog.hpp).
inline engine::Watchdog& test_watchdog() {
  static engine::Watchdog w;
  return w;
}

// Whether the suite runs on the native tier: WASIMANCER_TIER=native, as scripts/run-tests.sh
// sets it for the engine and host suites' second run (host::default_tier() reads the same).
inline bool native_tier() {
  const char* tier = std::getenv("WASIMANCER_TIER");
  return tier && std::string_view(tier) == "native";
}

// Runs `fn` on a new thread whose stack is `stack_bytes` and waits for it (a native frame larger
// than that stack must trap, not crash). False if the thread could not be started.
inline bool run_on_small_stack(size_t stack_bytes, const std::function<void()>& fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_t t;
  const bool started = pthread_create(
                           &t, &attr,
                           [](void* p) -> void* {
                             (*static_cast<const std::function<void()>*>(p))();
                             return nullptr;
                           },
                           const_cast<std::function<void()>*>(&fn)) == 0;
  if (started) pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  return started;
}

}  // namespace wasimancer::test
