// registry/native_tier.hpp: tiering like a JIT. Every published plugin version starts on the
// interpreter; builder threads make native code for it, a quick build first (-O0) and then an
// optimised one (-O2), and switch the version's instance pool to each as it is ready. Calls
// never wait for a compiler: those running finish on the instance they have, new ones get native
// instances (in sandbox workers, which alone load the code, when the version is isolated). A
// missing or failing compiler, or a build over its limits, leaves the plugin on the interpreter,
// with the reason logged and shown in GET /plugins. Builds are cached (engine/native.hpp), so
// after a restart a version whose optimised build is cached starts native at once.
//
// Builds have limits of their own (time, memory, `concurrency` at once, the lowest priority) and
// are cancelled, their processes killed, when their version is replaced or removed or the tier
// shuts down.
//
// Ownership: holds weak references to versions, also while a build runs. Owns its threads.
// Thread safety: every method is safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/native.hpp"
#include "registry/plugin_version.hpp"

namespace wasimancer::registry {

struct NativeTierConfig {
  bool enabled = true;
  engine::NativeOptions quick;      // opt_level "-O0"
  engine::NativeOptions optimised;  // opt_level "-O2"
  size_t concurrency = 1;           // builds at once
};

class NativeTier {
 public:
  explicit NativeTier(NativeTierConfig config);
  ~NativeTier();  // cancels the builds in progress

  // Switches `version` to cached optimised code at once if there is some (milliseconds), and
  // queues the builds it still needs.
  void schedule(const std::shared_ptr<const PluginVersion>& version);

  // Switches `version` to cached optimised code if there is some, without building. Returns
  // whether it did. load_plugin_version calls it before the first instance is made, so a plugin
  // with cached native code never instantiates on the interpreter.
  bool attach_cached(const PluginVersion& version);
  // The cached optimised build of a module, if any (only its sha256 is needed).
  std::optional<engine::NativeBuild> cached_build(const engine::ModuleInfo& info) const;

  // What a sandbox worker once said of the module with this sha256 (its exports, imports and
  // shape), kept in the cache folder beside the native code (as trusted as that code), so that a
  // restart publishes isolated plugins without starting a worker for each: workers then start at
  // the first call. Null when unknown. Thread-safe.
  std::optional<engine::ModuleInfo> known_module(const std::string& sha256) const;
  void remember_module(const engine::ModuleInfo& info) const;

  // Blocks until every queued build is done (tests and benchmarks).
  void wait_idle();

  const NativeTierConfig& config() const { return config_; }

 private:
  struct Job {
    std::weak_ptr<const PluginVersion> version;
    bool quick;
  };
  void run();
  // Switches `v` to code built with `o`: from the cache only unless `build`.
  bool attach(const PluginVersion& v, const engine::NativeOptions& o, bool build);
  // Builds for `version` (a background build) without keeping it alive meanwhile.
  bool build(const std::weak_ptr<const PluginVersion>& version, const engine::NativeOptions& o);
  // Switches `v` to `build`, or records why it stays on the interpreter.
  bool use(const PluginVersion& v, Result<engine::NativeBuild> build, const engine::NativeOptions& o,
           std::chrono::steady_clock::time_point t0, bool cached);

  NativeTierConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Every quick build runs before any optimised one, so all new plugins leave the interpreter soon.
  std::deque<Job> queue_;
  size_t busy_ = 0;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // kills the builds in progress on shutdown
  std::vector<std::thread> threads_;
};

}  // namespace wasimancer::registry
