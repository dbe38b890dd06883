// engine/native.hpp: the native tier: wasm2c turns the instrumented module into C, the system
// C compiler turns that (with our glue and our wasm-rt runtime, native/wm_rt.c) into a shared
// object, and dlopen loads it.
//
// Builds are cached on disk by the SHA-256 of the instrumented module, the compiler and its
// version, the flags, and the versions of our runtime, glue and rewriting pass, so a restart
// loads native code at once. The compiler runs on untrusted input: it gets a CPU-time, memory
// and wall-clock limit, and any failure just means the plugin stays on the interpreter.
//
// Deadlines, memory limits, traps and host calls behave exactly as on the interpreter: the same
// instrumentation pass inserts the same deadline checks, memory is capped by the same limit,
// and stack exhaustion is a trap.
//
// Ownership: NativeCode is shared (shared_ptr) by every instance made from it and unloads the
// shared object when the last goes. Thread safety: load_native may run on any thread (one build
// per cache key at a time is coordinated through the file system); NativeCode is immutable;
// instances follow engine::Instance's rules.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "core/error.hpp"
#include "engine/instance.hpp"
#include "engine/module.hpp"

namespace wasimancer::engine {

struct NativeOptions {
  std::filesystem::path cache_dir;         // where built shared objects are kept
  std::string compiler;                    // C compiler; empty: $CC, else clang, else cc
  std::string opt_level = "-O2";           // "-O0" for a quick build
  std::chrono::seconds timeout{300};       // wall clock for wasm2c + the compiler
  uint64_t memory_limit_bytes = 4ull << 30;  // address space of the compiler processes
  const std::atomic<bool>* cancel = nullptr; // set to stop a build (its processes are killed)
};

class NativeCode;

// Finds the build in the cache or makes it (blocking: seconds to minutes; never call it on a
// request path). Errors say what failed (wasm2c missing, compiler error, time limit...).
Result<std::shared_ptr<const NativeCode>> load_native(const Module& module, const NativeOptions& options);

// Whether `options` already has a build for `module` (no compilation).
bool native_cached(const Module& module, const NativeOptions& options);

std::string native_description(const NativeCode& code);  // e.g. "native (clang -O2)"

class Watchdog;

// `watchdog` interrupts loop-free recursion at the deadline (engine/watchdog.hpp); it must outlive
// the instance. Without one, only loops stop at the deadline.
std::variant<std::unique_ptr<Instance>, Trap> instantiate_native(std::shared_ptr<const Module> module,
                                                                 std::shared_ptr<const NativeCode> code,
                                                                 const ImportTable& imports, void* user_data,
                                                                 const InstanceLimits& limits,
                                                                 const CallControl& control, Watchdog* watchdog);

}  // namespace wasimancer::engine
