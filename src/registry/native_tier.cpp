#include "registry/native_tier.hpp"

#include <fmt/format.h>

#include "core/log.hpp"

namespace wasimancer::registry {

NativeTier::NativeTier(NativeTierConfig config) : config_(std::move(config)) {
  // Build folders an interrupted process left behind (old enough not to be another's in progress).
  for (const auto& dir : {config_.quick.cache_dir, config_.optimised.cache_dir}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().rfind(".build-", 0) != 0) continue;
      auto age = std::filesystem::file_time_type::clock::now() - std::filesystem::last_write_time(it->path(), ec);
      if (!ec && age > std::chrono::hours(1)) std::filesystem::remove_all(it->path(), ec);
    }
  }
  config_.quick.opt_level = config_.quick.opt_level.empty() ? "-O0" : config_.quick.opt_level;
  config_.optimised.opt_level = config_.optimised.opt_level.empty() ? "-O2" : config_.optimised.opt_level;
  config_.quick.cancel = &cancel_;
  config_.optimised.cancel = &cancel_;
  if (config_.enabled) thread_ = std::thread([this] { run(); });
}

NativeTier::~NativeTier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool NativeTier::attach(const PluginVersion& v, const engine::NativeOptions& o, bool build) {
  if (!build && !engine::native_cached(v.plugin->module(), o)) return false;
  auto t0 = std::chrono::steady_clock::now();
  return use(v, engine::load_native(v.plugin->module(), o), o, t0, !build);
}

bool NativeTier::build(const std::weak_ptr<const PluginVersion>& version, const engine::NativeOptions& o) {
  std::shared_ptr<const host::CompiledPlugin> plugin;
  if (auto v = version.lock()) plugin = v->plugin;
  if (!plugin) return false;
  auto t0 = std::chrono::steady_clock::now();
  // The version itself is not held while the compiler runs: one replaced or removed meanwhile
  // goes away with its last call, and its build is dropped here.
  auto code = engine::load_native(plugin->module(), o);
  auto v = version.lock();
  return v && use(*v, std::move(code), o, t0, false);
}

bool NativeTier::use(const PluginVersion& v, Result<std::shared_ptr<const engine::NativeCode>> code,
                     const engine::NativeOptions& o, std::chrono::steady_clock::time_point t0, bool cached) {
  if (!code) {
    if (cancel_) return false;  // shutting down
    std::string reason = code.error().message;
    v.set_native_status("interpreter (native build failed: " + reason + ")");
    log().warn("plugin \"{}\": native build ({}) failed, staying on the interpreter: {}", v.spec.name, o.opt_level, reason);
    return false;
  }
  auto plugin = v.plugin;
  std::shared_ptr<const engine::NativeCode> native = *code;
  std::string tier = engine::native_description(*native);
  v.pool.set_factory([plugin, native] { return host::PluginInstance::create(plugin, native); }, tier);
  v.set_native_status(tier);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log().info("plugin \"{}\" {} now runs on {} ({} ms{})", v.spec.name, v.spec.version, tier, ms, cached ? ", cached" : "");
  return true;
}

bool NativeTier::attach_cached(const PluginVersion& version) {
  return config_.enabled && attach(version, config_.optimised, false);
}

void NativeTier::schedule(const std::shared_ptr<const PluginVersion>& version) {
  if (!config_.enabled) {
    version->set_native_status("interpreter (native tier disabled)");
    return;
  }
  // Already on cached optimised code (attach_cached at load), or switch now if it is cached.
  if (version->pool.tier().find(config_.optimised.opt_level) != std::string::npos) return;
  if (attach(*version, config_.optimised, false)) return;
  version->set_native_status("interpreter (native build queued)");
  {
    std::lock_guard lock(mu_);
    quick_.push_back(version);
  }
  cv_.notify_all();
}

void NativeTier::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return (quick_.empty() && optimise_.empty() && !busy_) || stopping_; });
}

void NativeTier::run() {
  for (;;) {
    std::weak_ptr<const PluginVersion> weak;
    bool quick = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !quick_.empty() || !optimise_.empty(); });
      if (stopping_) return;
      quick = !quick_.empty();
      auto& q = quick ? quick_ : optimise_;
      weak = std::move(q.front());
      q.pop_front();
      busy_ = true;
    }
    // A version nobody holds any more (removed or replaced) is skipped.
    bool alive = false, optimised_cached = false;
    if (auto v = weak.lock(); v && v.use_count() > 1) {
      alive = true;
      optimised_cached = engine::native_cached(v->plugin->module(), config_.optimised);
      if (quick && !optimised_cached) v->set_native_status("interpreter (native build in progress)");
    }
    if (alive && quick) {
      bool ok = optimised_cached || build(weak, config_.quick);
      if (ok && config_.optimised.opt_level != config_.quick.opt_level) {
        std::lock_guard lock(mu_);
        optimise_.push_back(weak);
      }
    } else if (alive) {
      build(weak, config_.optimised);
    }
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }
}

}  // namespace wasimancer::registry
