#include "registry/native_tier.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/thread_name.hpp"
#include "sandbox/protocol.hpp"

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
  config_.concurrency = std::max<size_t>(1, config_.concurrency);
  if (config_.enabled) {
    for (size_t i = 0; i < config_.concurrency; ++i) threads_.push_back(named_thread("wm-native", [this] { run(); }));
  }
}

NativeTier::~NativeTier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::optional<engine::NativeBuild> NativeTier::cached_build(const engine::ModuleInfo& info) const {
  if (!config_.enabled || !engine::native_cached(info, config_.optimised)) return std::nullopt;
  return engine::NativeBuild{engine::native_cache_path(info, config_.optimised) / "plugin.so",
                             engine::native_description(config_.optimised)};
}

namespace {

// <cache>/modules/<sha256>.info: the ReadyInfo encoding of the sandbox protocol.
std::filesystem::path module_info_path(const engine::NativeOptions& o, const std::string& sha256) {
  return o.cache_dir / "modules" / (sha256 + ".info");
}

bool plain_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::optional<engine::ModuleInfo> NativeTier::known_module(const std::string& sha256) const {
  if (config_.optimised.cache_dir.empty() || !plain_sha256(sha256)) return std::nullopt;
  auto bytes = read_file(module_info_path(config_.optimised, sha256));
  if (!bytes) return std::nullopt;
  auto ready = sandbox::decode_ready(*bytes);
  if (!ready || ready->module.sha256 != sha256) return std::nullopt;
  return std::move(ready->module);
}

void NativeTier::remember_module(const engine::ModuleInfo& info) const {
  if (config_.optimised.cache_dir.empty() || !plain_sha256(info.sha256)) return;
  auto path = module_info_path(config_.optimised, info.sha256);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  sandbox::ReadyInfo r;
  r.module = info;
  (void)write_file_atomic(path, sandbox::encode(r));  // a cache: a failed write costs a worker at the next start
}

bool NativeTier::attach(const PluginVersion& v, const engine::NativeOptions& o, bool build) {
  if (!build && !engine::native_cached(v.plugin->info(), o)) return false;
  auto t0 = std::chrono::steady_clock::now();
  return use(v, engine::build_native(v.plugin->wasm(), v.plugin->info(), o), o, t0, !build);
}

bool NativeTier::build(const std::weak_ptr<const PluginVersion>& version, const engine::NativeOptions& o) {
  std::shared_ptr<const host::CompiledPlugin> plugin;
  if (auto v = version.lock()) plugin = v->plugin;
  if (!plugin) return false;
  auto t0 = std::chrono::steady_clock::now();
  // The version itself is not held while the compiler runs; the build stops (its processes are
  // killed) as soon as the version is replaced or removed, or the tier shuts down.
  engine::NativeOptions opts = o;
  opts.cancelled = [this, version] {
    if (cancel_.load()) return true;
    auto v = version.lock();
    return !v || v->retired();
  };
  auto built = engine::build_native(plugin->wasm(), plugin->info(), opts);
  auto v = version.lock();
  return v && use(*v, std::move(built), o, t0, false);
}

bool NativeTier::use(const PluginVersion& v, Result<engine::NativeBuild> built, const engine::NativeOptions& o,
                     std::chrono::steady_clock::time_point t0, bool cached) {
  if (v.retired()) return false;  // replaced or removed meanwhile: nothing to switch
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!built) {
    if (cancel_ || built.error().kind == ErrorKind::Cancelled) return false;  // shutting down
    if (!cached) metrics::record_native_build(o.opt_level, false, seconds);
    std::string reason = built.error().message;
    v.set_native_status("interpreter (native build failed: " + reason + ")");
    log().warn("plugin \"{}\" {}: native build ({}) failed, staying on the interpreter: {}", v.spec.name, v.spec.version,
               o.opt_level, reason);
    return false;
  }
  auto factory = v.factory(*built);
  if (!factory) {
    v.set_native_status("interpreter (native code could not be loaded: " + factory.error().message + ")");
    log().warn("plugin \"{}\" {}: native code could not be loaded: {}", v.spec.name, v.spec.version, factory.error().message);
    return false;
  }
  v.pool.set_factory(std::move(*factory), built->description);
  v.set_native_status(built->description);
  if (!cached) metrics::record_native_build(o.opt_level, true, seconds);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log().info("plugin \"{}\" {} now runs on {} ({} ms{})", v.spec.name, v.spec.version, built->description, ms,
             cached ? ", cached" : "");
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
    // Quick builds go before every optimised one.
    auto at = std::find_if(queue_.begin(), queue_.end(), [](const Job& j) { return !j.quick; });
    queue_.insert(at, Job{version, true});
  }
  cv_.notify_all();
}

void NativeTier::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return (queue_.empty() && busy_ == 0) || stopping_; });
}

void NativeTier::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    // A version replaced or removed meanwhile is skipped.
    bool alive = false, optimised_cached = false;
    if (auto v = job.version.lock(); v && !v->retired()) {
      alive = true;
      optimised_cached = engine::native_cached(v->plugin->info(), config_.optimised);
      if (job.quick && !optimised_cached) v->set_native_status("interpreter (native build in progress)");
    }
    if (alive && job.quick) {
      bool ok = optimised_cached || build(job.version, config_.quick);
      if (ok && config_.optimised.opt_level != config_.quick.opt_level) {
        std::lock_guard lock(mu_);
        queue_.push_back(Job{job.version, false});
      }
    } else if (alive) {
      build(job.version, config_.optimised);
    }
    {
      std::lock_guard lock(mu_);
      --busy_;
    }
    cv_.notify_all();
  }
}

}  // namespace wasimancer::registry
