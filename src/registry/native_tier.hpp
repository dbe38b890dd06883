// registry/native_tier.hpp: tiering like a JIT. Every published plugin version starts on the
// interpreter; a background thread builds native code for it, a quick build first (-O0) and then
// an optimised one (-O2), and switches the version's instance pool to each as it is ready. Calls
// never wait for a compiler: those running finish on the instance they have, new ones get native
// instances. A missing or failing compiler leaves the plugin on the interpreter, with the reason
// logged and shown in GET /plugins. Builds are cached (engine/native.hpp), so after a restart a
// version whose optimised build is cached starts native at once.
//
// Ownership: holds weak references to versions, also while a build runs (a version removed or
// replaced meanwhile goes away with its last call; its build is then dropped). Owns its thread.
// Thread safety: schedule() and status() are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/native.hpp"
#include "registry/plugin_version.hpp"

namespace wasimancer::registry {

struct NativeTierConfig {
  bool enabled = true;
  engine::NativeOptions quick;      // opt_level "-O0"
  engine::NativeOptions optimised;  // opt_level "-O2"
};

class NativeTier {
 public:
  explicit NativeTier(NativeTierConfig config);
  ~NativeTier();  // stops after the build in progress

  // Switches `version` to cached optimised code at once if there is some (milliseconds), and
  // queues the builds it still needs.
  void schedule(const std::shared_ptr<const PluginVersion>& version);

  // Switches `version` to cached optimised code if there is some, without building. Returns
  // whether it did. load_plugin_version calls it before the first instance is made, so a plugin
  // with cached native code never instantiates on the interpreter.
  bool attach_cached(const PluginVersion& version);

  // Blocks until every queued build is done (tests and benchmarks).
  void wait_idle();

  const NativeTierConfig& config() const { return config_; }

 private:
  void run();
  // Switches `v` to code built with `o`: from the cache only unless `build`.
  bool attach(const PluginVersion& v, const engine::NativeOptions& o, bool build);
  // Builds for `version` (a background build) without keeping it alive meanwhile.
  bool build(const std::weak_ptr<const PluginVersion>& version, const engine::NativeOptions& o);
  // Switches `v` to `code`, or records why it stays on the interpreter.
  bool use(const PluginVersion& v, Result<std::shared_ptr<const engine::NativeCode>> code, const engine::NativeOptions& o,
           std::chrono::steady_clock::time_point t0, bool cached);

  NativeTierConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Every quick build runs before any optimised one, so all new plugins leave the interpreter soon.
  std::deque<std::weak_ptr<const PluginVersion>> quick_;
  std::deque<std::weak_ptr<const PluginVersion>> optimise_;
  bool busy_ = false;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};  // kills the build in progress on shutdown
  std::thread thread_;
};

}  // namespace wasimancer::registry
