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
#include <functional>
#include <span>
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
  std::chrono::seconds timeout{300};       // wall clock for the whole build
  uint64_t memory_limit_bytes = 4ull << 30;  // address space of each build process
  std::function<bool()> cancelled;         // polled: true stops the build (its processes are killed)
  int nice = 19;                           // the build processes' priority (19: after everything else)
  // Runs the instrumentation pass as `<instrument_tool> __instrument-native IN OUT`, a supervised
  // process with the same limits as the compiler, so parsing the module happens outside the
  // caller's process. Empty: in this process.
  std::filesystem::path instrument_tool;
};

class NativeCode;

// A finished build in the cache: the shared object and how it was made ("native (clang -O2)").
struct NativeBuild {
  std::filesystem::path library;
  std::string description;
};

// Finds the build of `wasm` (whose shape is `info`) in the cache or makes it, without loading
// it (blocking: seconds to minutes; never on a request path). Errors say what failed (wasm2c
// missing, compiler error, time limit, cancelled: Timeout).
Result<NativeBuild> build_native(std::span<const uint8_t> wasm, const ModuleInfo& info, const NativeOptions& options);

// Loads a build. Only code that runs plugins loads one (a sandbox worker, or an in-process call).
Result<std::shared_ptr<const NativeCode>> open_native(const NativeBuild& build, const ModuleInfo& info);

// build_native + open_native.
Result<std::shared_ptr<const NativeCode>> load_native(const Module& module, const NativeOptions& options);

// How a build with `options` is described ("native (clang -O2)").
std::string native_description(const NativeOptions& options);

// Whether `options` already has a build for the module (no compilation).
bool native_cached(const ModuleInfo& info, const NativeOptions& options);
std::filesystem::path native_cache_path(const ModuleInfo& info, const NativeOptions& options);

// Prepares the calling thread to run native code (its stack bounds, an alternate signal stack,
// the stack-guard fault handler). Instantiation and calls do it on first use; a sandbox worker
// does it before it enters its system-call filter.
void prepare_native_thread();

// The `__instrument-native IN OUT` command (see NativeOptions::instrument_tool): 0 on success,
// else 1 with the reason on stderr.
int instrument_native_command(const std::filesystem::path& in, const std::filesystem::path& out);

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
