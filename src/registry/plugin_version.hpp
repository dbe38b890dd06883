// registry/plugin_version.hpp: one loaded version of a plugin and its pool of instances.
//
// Where its instances run is decided here, per version: in sandbox worker processes
// (sandbox/sandbox.hpp) when the server has a Sandbox and the plugin is not marked trusted,
// otherwise in this process. A version whose workers keep crashing is quarantined: its calls
// fail at once until the plugin is updated.
//
// Ownership: a PluginVersion is immutable once published and shared through
// shared_ptr<const PluginVersion>. A call copies the pointer, so an update swaps in a new
// version while calls already running finish on the old one; the old version (its code, vars
// and instances) goes away when its last call ends.
// Thread safety: PluginVersion is read-only; its InstancePool is internally synchronised.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <optional>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "host/plugin.hpp"
#include "sandbox/sandbox.hpp"
#include "registry/describe.hpp"
#include "registry/plugin_spec.hpp"

namespace wasimancer::registry {

// Makes a ready-to-call instance (on the interpreter, or on the native tier once it is built;
// in this process or in a sandbox worker).
using InstanceFactory = std::function<Result<std::unique_ptr<host::Runner>>()>;

// Instances of one plugin version. acquire() hands out an idle instance or makes a new one, so
// a plugin serves as many calls at once as there are workers; release keeps at most `max_idle`
// instances warm. An instance that a call left unusable (timeout, out of memory, exit) is
// dropped instead of returned.
class InstancePool {
 public:
  InstancePool(InstanceFactory factory, std::string tier, size_t max_idle);
  ~InstancePool();

  // One instance for one call; returns it to the pool on destruction. Must not outlive the pool
  // (a call holds the PluginVersion, and so the pool, for as long as its lease).
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    host::Runner& operator*() const { return *instance_; }
    host::Runner* operator->() const { return instance_.get(); }

   private:
    friend class InstancePool;
    Lease(InstancePool* pool, std::unique_ptr<host::Runner> instance, uint64_t generation)
        : pool_(pool), instance_(std::move(instance)), generation_(generation) {}
    InstancePool* pool_;
    std::unique_ptr<host::Runner> instance_;
    uint64_t generation_;
  };

  Result<Lease> acquire();
  // Adds an instance made elsewhere (the one that checked the version at load) as idle.
  void put(std::unique_ptr<host::Runner> instance);
  // At most `n` instances at once (0: no cap): acquire() then waits for one to come back. A
  // stateful plugin (self-describing plugins keep their state in memory) gets 1.
  void set_max_instances(size_t n);

  // Switches to a new way of making instances (the native tier); idle instances made the old
  // way are dropped and busy ones are dropped when returned. Calls in progress are not affected.
  void set_factory(InstanceFactory factory, std::string tier);
  // What new instances run on. Lock-free (read on every call); the text stays valid while the
  // pool lives.
  std::string_view tier() const { return *tier_.load(std::memory_order_acquire); }

  size_t idle() const;
  size_t created() const;
  // For /metrics: acquires, and those that found no idle instance and waited for a new one.
  struct Stats {
    size_t idle = 0, leased = 0, created = 0;
    uint64_t acquires = 0, waits = 0;
    double wait_seconds = 0;
  };
  Stats stats() const;

 private:
  uint64_t generation() const;
  void release(std::unique_ptr<host::Runner> instance, uint64_t generation);

  const size_t max_idle_;
  size_t max_instances_ = 0;
  size_t leased_ = 0;
  std::condition_variable cv_;
  mutable std::mutex mu_;
  InstanceFactory factory_;
  // Every tier this pool has had (a few: set_factory is called once per native build), so that a
  // view of an earlier one stays valid; tier_ points at the current one.
  std::deque<std::string> tiers_;  // under mu_
  std::atomic<const std::string*> tier_;
  uint64_t generation_ = 0;
  std::vector<std::unique_ptr<host::Runner>> idle_;
  size_t created_ = 0;
  uint64_t acquires_ = 0, waits_ = 0;
  double wait_seconds_ = 0;
};

struct PluginVersion {
  PluginSpec spec;
  std::shared_ptr<const host::CompiledPlugin> plugin;
  std::filesystem::path file;  // where the wasm was loaded from
  std::string sha256;
  uint64_t serial = 0;         // unique for every version loaded by this process
  std::chrono::system_clock::time_point loaded_at;
  mutable InstancePool pool;

  sandbox::Sandbox* sandbox;   // where its instances run (null: in this process)

  PluginVersion(PluginSpec s, std::shared_ptr<const host::CompiledPlugin> p, std::filesystem::path f, size_t max_idle,
                sandbox::Sandbox* sandbox, InstanceFactory factory, std::string tier);

  // Runs one function on a pooled instance (blocks the calling thread; call it from a worker).
  // A quarantined version fails at once with a Crash error.
  host::CallOutcome call(std::string_view function, std::string_view input, const host::CallOptions& options) const;

  // How to make instances of this version on the interpreter (no build) or with a native build:
  // in a sandbox worker when `sandbox` is set, else in this process (which then loads the code).
  Result<InstanceFactory> factory(std::optional<engine::NativeBuild> build) const;

  // After kQuarantineAfter worker crashes in a row, calls fail at once until the plugin is
  // updated (a new version). The reason names the last crash.
  static constexpr uint32_t kQuarantineAfter = 3;
  bool quarantined() const;
  std::string quarantine_reason() const;

  // Set when the version is replaced or removed: its background work (native builds) stops.
  void retire() const { retired_ = true; }
  bool retired() const { return retired_; }

  // The tools it serves: its declared functions, or what a self-describing plugin said it has
  // (registry/describe.hpp), which the plugin may change while it runs (notify_tool_list_changed).
  std::shared_ptr<const std::vector<FunctionSpec>> tools() const { return std::atomic_load(&tools_); }
  // A self-describing plugin's whole description (null for declared functions).
  std::shared_ptr<const Description> description() const { return std::atomic_load(&description_); }
  Interface interface_kind = Interface::Plain;
  bool prefix_tools = false;  // tools are served as "<plugin>-<tool>"
  // Asks the plugin again what it serves (on an instance from the pool) and keeps the answer.
  // Returns whether the tools changed. For self-describing plugins only.
  Result<bool> redescribe() const;
  void set_description(std::shared_ptr<const Description> d) const;

  // Called (on the calling thread) after a call in which the plugin said its tools, prompts or
  // resources changed; the registry re-describes it (LoadOptions::on_list_changed).
  std::function<void(const PluginVersion&)> on_list_changed;

  // What the native tier did for this version (for GET /plugins): e.g. "native (clang -O2)",
  // "interpreter (native build in progress)", or the reason it stays on the interpreter.
  std::string native_status() const;
  void set_native_status(std::string status) const;

 private:
  mutable std::mutex status_mu_;
  mutable std::string native_status_ = "interpreter";
  mutable uint32_t crashes_in_a_row_ = 0;  // under status_mu_
  mutable std::string quarantine_reason_;  // under status_mu_; empty: not quarantined
  mutable std::atomic<bool> retired_{false};
  mutable std::shared_ptr<const std::vector<FunctionSpec>> tools_;  // atomic access
  mutable std::shared_ptr<const Description> description_;         // atomic access
};

class NativeTier;

struct LoadOptions {
  std::map<std::string, std::string> global_config;  // WASM_* environment variables
  LogLevel log_level = LogLevel::Info;
  size_t max_idle_instances = 2;
  NativeTier* native = nullptr;  // tiers published versions up in the background (may be null)
  std::shared_ptr<engine::Watchdog> watchdog;  // the application's (null: one per plugin)
  // Non-null: plugins not marked `trusted` run in sandbox workers.
  sandbox::Sandbox* sandbox = nullptr;
  // Serve every self-describing plugin's tools as "<plugin>-<tool>" (WASIMANCER_PREFIX_TOOLS).
  bool prefix_tools = false;
  // Set on every version loaded: re-describes a plugin that said its lists changed.
  std::function<void(const PluginVersion&)> on_list_changed;
  // Loading plugins.yml at start: an isolated module a worker described before (known to the
  // native tier's cache) is published without starting a worker; its first call starts one.
  // Publishes through the admin API always start one (a module that cannot start is refused).
  bool defer_workers = false;
};

// Compiles `wasm` for `spec` (with server-wide config merged under the plugin's own), checks
// that every declared function is an export of an accepted type, and instantiates once so a
// broken start function or initialiser is caught before anything is published.
Result<std::shared_ptr<const PluginVersion>> load_plugin_version(PluginSpec spec, std::span<const uint8_t> wasm,
                                                                  std::filesystem::path file, const LoadOptions& options);

}  // namespace wasimancer::registry
