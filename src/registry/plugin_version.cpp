#include "registry/plugin_version.hpp"

#include <atomic>

#include "registry/native_tier.hpp"

#include <fmt/format.h>

namespace wasimancer::registry {

// ---- InstancePool -----------------------------------------------------------------------------

InstancePool::InstancePool(std::shared_ptr<const host::CompiledPlugin> plugin, size_t max_idle)
    : plugin_(std::move(plugin)), max_idle_(max_idle == 0 ? 1 : max_idle) {
  factory_ = [p = plugin_] { return host::PluginInstance::create(p); };
}

InstancePool::~InstancePool() = default;

InstancePool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), instance_(std::move(other.instance_)), generation_(other.generation_) {
  other.pool_ = nullptr;
}

InstancePool::Lease::~Lease() {
  if (pool_ && instance_) pool_->release(std::move(instance_), generation_);
}

Result<InstancePool::Lease> InstancePool::acquire() {
  InstanceFactory factory;
  uint64_t generation;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto inst = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(inst), generation_);
    }
    factory = factory_;
    generation = generation_;
  }
  // Instantiate outside the lock: it can take a while and other calls may proceed meanwhile.
  auto inst = factory();
  if (!inst) return inst.take_error();
  {
    std::lock_guard lock(mu_);
    ++created_;
  }
  return Lease(this, std::move(*inst), generation);
}

void InstancePool::release(std::unique_ptr<host::PluginInstance> instance, uint64_t generation) {
  std::unique_ptr<host::PluginInstance> drop;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  if (!instance->reusable() || generation != generation_ || idle_.size() >= max_idle_) {
    drop = std::move(instance);
    return;
  }
  idle_.push_back(std::move(instance));
}

void InstancePool::set_factory(InstanceFactory factory, std::string tier) {
  std::vector<std::unique_ptr<host::PluginInstance>> old;
  std::lock_guard lock(mu_);
  factory_ = std::move(factory);
  tier_ = std::move(tier);
  ++generation_;
  old.swap(idle_);
}

std::string InstancePool::tier() const {
  std::lock_guard lock(mu_);
  return tier_;
}

size_t InstancePool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

size_t InstancePool::created() const {
  std::lock_guard lock(mu_);
  return created_;
}

// ---- PluginVersion ----------------------------------------------------------------------------

namespace {
std::atomic<uint64_t> next_serial{1};
}

PluginVersion::PluginVersion(PluginSpec s, std::shared_ptr<const host::CompiledPlugin> p, std::filesystem::path f,
                             size_t max_idle)
    : spec(std::move(s)),
      plugin(p),
      file(std::move(f)),
      sha256(p->module().sha256()),
      serial(next_serial++),
      loaded_at(std::chrono::system_clock::now()),
      pool(p, max_idle) {}

host::CallOutcome PluginVersion::call(std::string_view function, std::string_view input,
                                      const host::CallOptions& options) const {
  auto lease = pool.acquire();
  if (!lease) {
    host::CallOutcome out;
    out.rc = -1;
    out.error = lease.take_error();
    return out;
  }
  return (*lease)->call(function, input, options);
}

std::string PluginVersion::native_status() const {
  std::lock_guard lock(status_mu_);
  return native_status_;
}

void PluginVersion::set_native_status(std::string status) const {
  std::lock_guard lock(status_mu_);
  native_status_ = std::move(status);
}

Result<std::shared_ptr<const PluginVersion>> load_plugin_version(PluginSpec spec, std::span<const uint8_t> wasm,
                                                                  std::filesystem::path file, const LoadOptions& options) {
  host::PluginOptions opts;
  opts.name = spec.name;
  opts.config = options.global_config;
  for (const auto& [k, v] : spec.config) opts.config[k] = v;
  opts.allowed_hosts = spec.allowed_hosts.value_or(std::vector<std::string>{"*"});
  opts.http_response_headers = spec.http_response_headers;
  opts.limits = spec.limits;
  opts.log_level = options.log_level;
  opts.watchdog = options.watchdog;
  opts.tier = host::Tier::Interpreter;  // the native tier comes in the background (NativeTier)

  auto compiled = host::CompiledPlugin::load(wasm, std::move(opts));
  if (!compiled) return compiled.take_error();
  std::vector<std::string> problems;
  for (const auto& fn : spec.functions) {
    if (auto r = (*compiled)->check_function(fn.function); !r) problems.push_back(r.error().message);
  }
  if (!problems.empty()) {
    auto exports = (*compiled)->plugin_functions();
    return Error(ErrorKind::InvalidArgument, fmt::format("{} (the module exports: {})", fmt::join(problems, "; "),
                                                         exports.empty() ? "none" : fmt::format("{}", fmt::join(exports, ", "))));
  }
  auto version = std::make_shared<PluginVersion>(std::move(spec), *compiled, std::move(file), options.max_idle_instances);
  if (options.native) options.native->attach_cached(*version);
  // Instantiate and initialise once now: a module that cannot start is refused before it is
  // published, and the first call finds a warm instance.
  {
    auto lease = version->pool.acquire();
    if (!lease) return lease.take_error();
  }
  return std::shared_ptr<const PluginVersion>(std::move(version));
}

}  // namespace wasimancer::registry
