#include "registry/plugin_version.hpp"

#include <atomic>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "registry/native_tier.hpp"

#include <fmt/format.h>

namespace wasimancer::registry {

// ---- InstancePool -----------------------------------------------------------------------------

InstancePool::InstancePool(InstanceFactory factory, std::string tier, size_t max_idle)
    : max_idle_(max_idle == 0 ? 1 : max_idle), factory_(std::move(factory)), tiers_{std::move(tier)}, tier_(&tiers_.back()) {}

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
  bool counted = false;
  {
    std::unique_lock lock(mu_);
    ++acquires_;
    // A call waits when it finds no idle instance: for one to come back (a capped pool) and/or
    // for a new one to be made; counted once, timed in full.
    // With a cap, wait for an instance to come back (or be dropped) rather than make another.
    auto ready = [this] { return !idle_.empty() || max_instances_ == 0 || leased_ < max_instances_; };
    if (!ready()) {
      auto t0 = std::chrono::steady_clock::now();
      cv_.wait(lock, ready);
      ++waits_;
      counted = true;
      wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    ++leased_;
    if (!idle_.empty()) {
      auto inst = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(inst), generation_);
    }
    factory = factory_;
    generation = generation_;
  }
  // Instantiate outside the lock: it can take a while and other calls may proceed meanwhile.
  auto t0 = std::chrono::steady_clock::now();
  auto inst = factory();
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard lock(mu_);
  if (!counted) ++waits_;
  wait_seconds_ += waited;
  if (!inst) {
    --leased_;
    cv_.notify_one();
    return inst.take_error();
  }
  ++created_;
  return Lease(this, std::move(*inst), generation);
}

void InstancePool::put(std::unique_ptr<host::Runner> instance) {
  std::unique_ptr<host::Runner> drop;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  if (!instance->reusable() || idle_.size() >= max_idle_) {
    drop = std::move(instance);
    return;
  }
  idle_.push_back(std::move(instance));
  cv_.notify_one();
}

void InstancePool::set_max_instances(size_t n) {
  std::lock_guard lock(mu_);
  max_instances_ = n;
  cv_.notify_all();
}

void InstancePool::release(std::unique_ptr<host::Runner> instance, uint64_t generation) {
  std::unique_ptr<host::Runner> drop;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  --leased_;
  cv_.notify_one();
  if (!instance->reusable() || generation != generation_ || idle_.size() >= max_idle_) {
    drop = std::move(instance);
    return;
  }
  idle_.push_back(std::move(instance));
}

uint64_t InstancePool::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

void InstancePool::set_factory(InstanceFactory factory, std::string tier) {
  std::vector<std::unique_ptr<host::Runner>> old;
  std::lock_guard lock(mu_);
  factory_ = std::move(factory);
  tiers_.push_back(std::move(tier));
  tier_.store(&tiers_.back(), std::memory_order_release);
  ++generation_;
  old.swap(idle_);
}

size_t InstancePool::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

size_t InstancePool::created() const {
  std::lock_guard lock(mu_);
  return created_;
}

InstancePool::Stats InstancePool::stats() const {
  std::lock_guard lock(mu_);
  return Stats{idle_.size(), leased_, created_, acquires_, waits_, wait_seconds_};
}

// ---- PluginVersion ----------------------------------------------------------------------------

namespace {
std::atomic<uint64_t> next_serial{1};
}

PluginVersion::PluginVersion(PluginSpec s, std::shared_ptr<const host::CompiledPlugin> p, std::filesystem::path f,
                             size_t max_idle, sandbox::Sandbox* sb, InstanceFactory factory, std::string tier)
    : spec(std::move(s)),
      plugin(p),
      file(std::move(f)),
      sha256(p->info().sha256),
      serial(next_serial++),
      loaded_at(std::chrono::system_clock::now()),
      pool(std::move(factory), std::move(tier), max_idle),
      sandbox(sb),
      tools_(std::make_shared<const std::vector<FunctionSpec>>(spec.functions)) {}

void PluginVersion::set_description(std::shared_ptr<const Description> d) const {
  std::shared_ptr<const std::vector<FunctionSpec>> tools(d, &d->tools);
  std::atomic_store(&description_, std::move(d));
  std::atomic_store(&tools_, std::move(tools));
}

namespace {

// What a tool looks like to a client, to tell whether a re-describe changed anything.
std::string tools_fingerprint(const std::vector<FunctionSpec>& tools) {
  std::string out;
  for (const auto& f : tools) {
    out += f.tool_name + '\x1f' + f.description + '\x1f' + f.title + '\x1f' +
           boost::json::serialize(tool_input_schema(f)) + '\x1f' +
           (f.output_schema ? boost::json::serialize(*f.output_schema) : "") + '\x1e';
  }
  return out;
}

// Passes everything to the caller's sink, and notes when the plugin says one of its lists changed.
class ListWatch final : public host::CallSink {
 public:
  explicit ListWatch(host::CallSink* inner) : inner_(inner ? inner : &fallback_) {}
  bool changed = false;
  void plugin_log(const host::PluginOptions& p, LogLevel l, std::string_view m) override { inner_->plugin_log(p, l, m); }
  void plugin_stdout(const host::PluginOptions& p, int fd, std::string_view t) override { inner_->plugin_stdout(p, fd, t); }
  bool progress(std::string_view json) override { return inner_->progress(json); }
  void client_log(int level, std::string_view m) override { inner_->client_log(level, m); }
  Result<std::string> sample(std::string_view r) override { return inner_->sample(r); }
  Result<std::string> elicit(std::string_view r) override { return inner_->elicit(r); }
  Result<std::string> list_roots() override { return inner_->list_roots(); }
  void notify(std::string_view method, std::string_view params) override {
    if (method.ends_with("/list_changed")) {
      changed = true;  // the registry re-describes the plugin and tells every client
      return;
    }
    inner_->notify(method, params);
  }

 private:
  host::CallSink fallback_;
  host::CallSink* inner_;
};

}  // namespace

Result<bool> PluginVersion::redescribe() const {
  if (interface_kind == Interface::Plain) return false;
  auto lease = pool.acquire();
  if (!lease) return lease.take_error();
  auto d = describe(**lease, plugin->info(), spec, prefix_tools);
  if (!d) return d.take_error();
  auto old = tools();
  bool changed = tools_fingerprint(*old) != tools_fingerprint((*d)->tools);
  auto prev = description();
  if (prev && (boost::json::serialize(prev->prompts) != boost::json::serialize((*d)->prompts) ||
               boost::json::serialize(prev->resources) != boost::json::serialize((*d)->resources) ||
               boost::json::serialize(prev->resource_templates) != boost::json::serialize((*d)->resource_templates))) {
    changed = true;
  }
  set_description(std::move(*d));
  return changed;
}

host::CallOutcome PluginVersion::call(std::string_view function, std::string_view input,
                                      const host::CallOptions& options) const {
  if (std::string reason = quarantine_reason(); !reason.empty()) {
    host::CallOutcome out;
    out.rc = -1;
    out.error = Error(ErrorKind::Crash, fmt::format("crash: plugin \"{}\" {} is quarantined ({}); publish an update to try again",
                                                    spec.name, spec.version, reason));
    return out;
  }
  host::CallOutcome out;
  ListWatch watch(options.sink);
  host::CallOptions opts = options;
  if (interface_kind != Interface::Plain) opts.sink = &watch;
  if (auto lease = pool.acquire()) {
    out = (*lease)->call(function, input, opts);
  } else {
    out.rc = -1;
    out.error = lease.take_error();
  }
  if (watch.changed && on_list_changed) on_list_changed(*this);
  const bool crashed = out.error && out.error->kind == ErrorKind::Crash;
  std::lock_guard lock(status_mu_);
  if (!crashed) {
    crashes_in_a_row_ = 0;
  } else if (++crashes_in_a_row_ >= kQuarantineAfter && quarantine_reason_.empty()) {
    quarantine_reason_ = fmt::format("its sandbox worker crashed {} times in a row; last: {}", crashes_in_a_row_, out.error->message);
    log().warn("plugin \"{}\" {} quarantined: {}", spec.name, spec.version, quarantine_reason_);
    metrics::record_quarantine(spec.name);
  }
  return out;
}

bool PluginVersion::quarantined() const { return !quarantine_reason().empty(); }

std::string PluginVersion::quarantine_reason() const {
  std::lock_guard lock(status_mu_);
  return quarantine_reason_;
}

namespace {

// What a sandbox worker needs to load a plugin with these options (and this native code).
sandbox::LoadRequest load_request(const host::PluginOptions& o, std::span<const uint8_t> wasm,
                                  const std::optional<engine::NativeBuild>& build) {
  sandbox::LoadRequest r;
  r.name = o.name;
  r.wasm.assign(wasm.begin(), wasm.end());
  r.config = o.config;
  r.limits = o.limits;
  r.http_response_headers = o.http_response_headers;
  r.log_level = o.log_level;
  r.command = o.command;
  if (o.preopens) {
    for (const auto& d : o.preopens->dirs()) r.grants.push_back(d.grant);
  }
  if (build) {
    r.native_library = build->library.string();
    r.native_description = build->description;
  }
  return r;
}

}  // namespace

Result<InstanceFactory> PluginVersion::factory(std::optional<engine::NativeBuild> build) const {
  auto p = plugin;
  if (sandbox) {
    auto request = std::make_shared<const sandbox::LoadRequest>(load_request(p->options(), p->wasm(), build));
    sandbox::Sandbox* sb = sandbox;
    return InstanceFactory([sb, p, request]() -> Result<std::unique_ptr<host::Runner>> {
      auto r = sb->start(*request, p);
      if (!r) return r.take_error();
      return std::unique_ptr<host::Runner>(std::move(*r));
    });
  }
  std::shared_ptr<const engine::NativeCode> code;
  if (build) {
    auto c = engine::open_native(*build, p->info());
    if (!c) return c.take_error();
    code = *c;
  }
  return InstanceFactory([p, code]() -> Result<std::unique_ptr<host::Runner>> {
    auto r = host::PluginInstance::create(p, code);
    if (!r) return r.take_error();
    return std::unique_ptr<host::Runner>(std::move(*r));
  });
}

std::string PluginVersion::native_status() const {
  std::lock_guard lock(status_mu_);
  return native_status_;
}

void PluginVersion::set_native_status(std::string status) const {
  std::lock_guard lock(status_mu_);
  native_status_ = std::move(status);
}

namespace {

Result<host::PluginOptions> plugin_options(const PluginSpec& spec, const LoadOptions& options) {
  host::PluginOptions opts;
  opts.name = spec.name;
  opts.config = options.global_config;
  for (const auto& [k, v] : spec.config) opts.config[k] = v;
  opts.allowed_hosts = spec.allowed_hosts.value_or(std::vector<std::string>{"*"});
  opts.http_response_headers = spec.http_response_headers;
  opts.limits = spec.limits;
  opts.log_level = options.log_level;
  opts.tier = host::Tier::Interpreter;  // the native tier comes in the background (NativeTier)
  opts.watchdog = options.watchdog;
  opts.command = spec.command;
  if (!spec.allowed_paths.empty()) {
    // Opened now: a missing folder is refused at publish, with its name.
    auto pre = host::Preopens::open(spec.allowed_paths);
    if (!pre) return pre.take_error();
    opts.preopens = std::move(*pre);
  }
  return opts;
}

// Declared functions must be exports of an accepted type; a plugin without any must describe
// itself (registry/describe.hpp).
Result<void> check_functions(const PluginSpec& spec, const host::CompiledPlugin& compiled) {
  if (detect_interface(compiled.info()) != Interface::Plain) return {};  // checked by describe()
  if (spec.functions.empty()) {
    auto exports = compiled.plugin_functions();
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("plugin \"{}\" declares no functions and does not describe itself (it exports neither "
                             "describe/call nor list_tools/call_tool; its functions: {})",
                             spec.name, exports.empty() ? "none" : fmt::format("{}", fmt::join(exports, ", "))));
  }
  std::vector<std::string> problems;
  for (const auto& fn : spec.functions) {
    if (auto r = compiled.check_function(fn.function); !r) problems.push_back(r.error().message);
  }
  if (problems.empty()) return {};
  auto exports = compiled.plugin_functions();
  return Error(ErrorKind::InvalidArgument, fmt::format("{} (the module exports: {})", fmt::join(problems, "; "),
                                                       exports.empty() ? "none" : fmt::format("{}", fmt::join(exports, ", "))));
}

// A new version of `compiled`: its interface, instance cap, tool prefix and list-change callback
// set, and its pool given a factory (sandbox workers when `options.sandbox` is given, with the
// native code `build` if any). The caller puts a first instance in, or describes it.
Result<std::shared_ptr<PluginVersion>> assemble(PluginSpec spec, std::shared_ptr<const host::CompiledPlugin> compiled,
                                                std::filesystem::path file, const LoadOptions& options,
                                                sandbox::Sandbox* sandbox, const std::optional<engine::NativeBuild>& build,
                                                const std::string& tier) {
  const Interface iface = detect_interface(compiled->info());
  auto version = std::make_shared<PluginVersion>(std::move(spec), std::move(compiled), std::move(file), options.max_idle_instances,
                                                 sandbox, InstanceFactory(), tier);
  version->interface_kind = iface;
  // Self-describing plugins keep their state in memory: one instance unless told otherwise.
  version->pool.set_max_instances(version->spec.max_instances.value_or(iface != Interface::Plain ? 1 : 0));
  version->prefix_tools = version->spec.prefix_tools || options.prefix_tools;
  version->on_list_changed = options.on_list_changed;
  auto factory = version->factory(build);
  if (!factory) return factory.take_error();
  version->pool.set_factory(std::move(*factory), tier);
  if (build) version->set_native_status(build->description);
  return version;
}

// Asks a self-describing plugin for its tools (and, for v2, prompts and resources) through `runner`.
Result<void> describe_into(PluginVersion& version, host::Runner& runner) {
  if (version.interface_kind == Interface::Plain) return {};
  auto d = describe(runner, version.plugin->info(), version.spec, version.prefix_tools);
  if (!d) return d.take_error();
  version.set_description(std::move(*d));
  return {};
}

// In a sandbox worker: the worker parses and instantiates the module (nothing of it is parsed in
// this process) and stays as the version's first warm instance.
Result<std::shared_ptr<const PluginVersion>> load_isolated(PluginSpec spec, std::span<const uint8_t> wasm,
                                                           std::filesystem::path file, const LoadOptions& options) {
  auto opts_or = plugin_options(spec, options);
  if (!opts_or) return opts_or.take_error();
  host::PluginOptions opts = std::move(*opts_or);
  engine::ModuleInfo known;
  known.sha256 = sha256_hex(wasm);
  std::optional<engine::NativeBuild> cached = options.native ? options.native->cached_build(known) : std::nullopt;
  // A module a worker described before (a restart, or the same module published again): no
  // worker now; the pool starts one at the first call.
  if (std::optional<engine::ModuleInfo> seen =
          options.native && options.defer_workers ? options.native->known_module(known.sha256) : std::nullopt) {
    auto compiled = host::CompiledPlugin::describe(std::vector<uint8_t>(wasm.begin(), wasm.end()), std::move(*seen), std::move(opts));
    if (!compiled) return compiled.take_error();
    if (auto r = check_functions(spec, **compiled); !r) return r.take_error();
    auto version = assemble(std::move(spec), *compiled, std::move(file), options, options.sandbox, cached,
                            cached ? cached->description : "interpreter");
    if (!version) return version.take_error();
    if ((*version)->interface_kind != Interface::Plain) {  // asked for its tools: a worker now
      auto lease = (*version)->pool.acquire();
      if (!lease) return lease.take_error();
      if (auto r = describe_into(**version, **lease); !r) return r.take_error();
    }
    return std::shared_ptr<const PluginVersion>(std::move(*version));
  }
  // The first worker is started before the plugin is described: the request needs only options.
  sandbox::LoadRequest request = load_request(opts, wasm, cached);
  sandbox::ReadyInfo ready;
  auto first = options.sandbox->start(request, nullptr, &ready);
  if (!first) return first.take_error();
  if (ready.module.sha256 != known.sha256) return Error(ErrorKind::Internal, "the sandbox worker described another module");
  if (options.native) options.native->remember_module(ready.module);
  auto compiled = host::CompiledPlugin::describe(std::move(request.wasm), std::move(ready.module), std::move(opts));
  if (!compiled) return compiled.take_error();
  if (auto r = check_functions(spec, **compiled); !r) return r.take_error();
  (*first)->bind(*compiled);
  auto version = assemble(std::move(spec), *compiled, std::move(file), options, options.sandbox, cached, (*first)->tier_name());
  if (!version) return version.take_error();
  if (auto r = describe_into(**version, **first); !r) return r.take_error();
  (*version)->pool.put(std::move(*first));
  return std::shared_ptr<const PluginVersion>(std::move(*version));
}

}  // namespace

Result<std::shared_ptr<const PluginVersion>> load_plugin_version(PluginSpec spec, std::span<const uint8_t> wasm,
                                                                  std::filesystem::path file, const LoadOptions& options) {
  if (options.sandbox && !spec.trusted) return load_isolated(std::move(spec), wasm, std::move(file), options);
  auto opts = plugin_options(spec, options);
  if (!opts) return opts.take_error();
  auto compiled = host::CompiledPlugin::load(wasm, std::move(*opts));
  if (!compiled) return compiled.take_error();
  if (auto r = check_functions(spec, **compiled); !r) return r.take_error();
  auto version = assemble(std::move(spec), *compiled, std::move(file), options, nullptr, std::nullopt, "interpreter");
  if (!version) return version.take_error();
  if (options.native) options.native->attach_cached(**version);
  // Instantiate and initialise once now: a module that cannot start is refused before it is
  // published, and the first call finds a warm instance.
  {
    auto lease = (*version)->pool.acquire();
    if (!lease) return lease.take_error();
    if (auto r = describe_into(**version, **lease); !r) return r.take_error();
  }
  return std::shared_ptr<const PluginVersion>(std::move(*version));
}

}  // namespace wasimancer::registry
