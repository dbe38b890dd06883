#include "host/plugin.hpp"

#include <fmt/format.h>

#include "core/metrics.hpp"
#include "core/text.hpp"
#include "core/rate_limit.hpp"
#include "engine/instrument.hpp"
#include "engine/interp.hpp"
#include "host/state.hpp"

namespace wasimancer::host {

// ---- CallSink defaults ------------------------------------------------------------------------

// Plugin lines reach the server log through one rate limiter per plugin (core/rate_limit.hpp
// defaults: 1000 lines / 1 MiB at once, then 100 lines/s and 64 KiB/s), so no plugin can fill
// the disk however many clients call it; the first line after a gap says what was dropped.
RateLimiter& plugin_log_limiter() {
  static RateLimiter limiter;
  return limiter;
}

static bool admit_plugin_line(const PluginOptions& plugin, size_t bytes) {
  auto d = plugin_log_limiter().admit(plugin.name, bytes);
  if (d.dropped_before > 0) {
    log().warn("[{}] {} log lines ({} bytes) dropped: the plugin logs more than the server log takes", plugin.name,
               d.dropped_before, d.dropped_bytes_before);
  }
  return d.allowed;
}

void CallSink::plugin_log(const PluginOptions& plugin, LogLevel level, std::string_view message) {
  if (admit_plugin_line(plugin, message.size())) log().log(to_spdlog(level), "[{}] {}", plugin.name, message);
}

void CallSink::plugin_stdout(const PluginOptions& plugin, int fd, std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (admit_plugin_line(plugin, text.size())) log().info("[{}] {}: {}", plugin.name, fd == 2 ? "stderr" : "stdout", text);
}

bool CallSink::progress(std::string_view) { return false; }
void CallSink::client_log(int, std::string_view) {}
Result<std::string> CallSink::sample(std::string_view) {
  return Error(ErrorKind::HostError, "sampling needs an MCP client, and this call has none");
}
Result<std::string> CallSink::elicit(std::string_view) {
  return Error(ErrorKind::HostError, "elicitation needs an MCP client, and this call has none");
}
Result<std::string> CallSink::list_roots() {
  return Error(ErrorKind::HostError, "roots need an MCP client, and this call has none");
}
void CallSink::notify(std::string_view method, std::string_view) { log().debug("plugin notification {} (no client)", method); }

Tier default_tier() {
  static const Tier tier = [] {
    const char* e = std::getenv("WASIMANCER_TIER");
    return (e && std::string_view(e) == "native") ? Tier::Native : Tier::Interpreter;
  }();
  return tier;
}

engine::NativeOptions default_native_options() {
  engine::NativeOptions o;
  if (const char* c = std::getenv("WASIMANCER_NATIVE_CACHE"); c && *c) {
    o.cache_dir = c;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    o.cache_dir = std::filesystem::path(x) / "wasimancer" / "native";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    o.cache_dir = std::filesystem::path(h) / ".cache" / "wasimancer" / "native";
  } else {
    o.cache_dir = std::filesystem::temp_directory_path() / "wasimancer-native";
  }
  if (const char* opt = std::getenv("WASIMANCER_NATIVE_OPT"); opt && *opt) o.opt_level = opt;
  return o;
}

namespace {

CallSink& default_sink() {
  static CallSink sink;
  return sink;
}

bool is_plugin_signature(const engine::FuncType& t) {
  return t.params.empty() && (t.results.empty() || (t.results.size() == 1 && t.results[0] == engine::ValType::I32));
}

std::string missing_import_message(const engine::ImportDesc& imp) {
  if (imp.kind != engine::ExternKind::Func) {
    return fmt::format("the plugin imports the {} \"{}\".\"{}\"; the host provides only functions",
                       engine::to_string(imp.kind), imp.module, imp.name);
  }
  if (imp.module == "extism:host/env") {
    return fmt::format("Invalid function import from extism:host/env: \"{}\" is not part of the Extism host ABI", imp.name);
  }
  if (imp.module == "extism:host/user") {
    return fmt::format(
        "the plugin imports the user host function \"extism:host/user\".\"{}\", which this server does not provide "
        "(it serves hyper-mcp's: create_elicitation, create_message, list_roots, notify_*; other user host "
        "functions are supplied by an embedding SDK)",
        imp.name);
  }
  if (imp.module == "wasi_snapshot_preview1" || imp.module == "wasimancer:host/mcp") {
    return fmt::format("the plugin imports \"{}\".\"{}\", which this server does not provide", imp.module, imp.name);
  }
  return fmt::format("the plugin imports \"{}\".\"{}\" from a module this server does not provide (linking several "
                     "modules is not supported)",
                     imp.module, imp.name);
}

}  // namespace

// ---- PluginServices ---------------------------------------------------------------------------

std::optional<std::string> PluginServices::var_get(std::string_view key) { return plugin_.vars().get(key); }

Result<void> PluginServices::var_set(std::string_view key, std::optional<std::string_view> value) {
  return plugin_.vars().set(key, value);
}

Result<HttpResponse> PluginServices::http(const HttpRequest& request, const Deadline& deadline, const std::atomic<bool>* cancel) {
  const PluginOptions& o = plugin_.options();
  return http_fetch(request, HttpPolicy{o.allowed_hosts, o.limits.max_http_response_bytes}, deadline, cancel);
}

Result<HttpResponse> traced_http(Services& services, HttpRequest request, const Deadline& deadline,
                                 const std::atomic<bool>* cancel, const trace::TraceContext* parent) {
  std::optional<trace::Span> span;
  if (parent) {
    span.emplace("HTTP " + request.method, trace::SpanKind::Client, parent);
    std::erase_if(request.headers, [](const auto& h) { return ascii_lower(h.first) == "traceparent"; });
    request.headers.emplace_back("traceparent", span->context().traceparent());
    if (span->recording()) {
      span->attribute("http.request.method", request.method);
      // The URL without its query, which may carry secrets.
      span->attribute("url.full", request.url.substr(0, request.url.find_first_of("?#")));
    }
  }
  auto res = services.http(request, deadline, cancel);
  Error* err = res ? nullptr : const_cast<Error*>(&res.error());
  std::string_view outcome = !err ? "ok" : metrics::outcome_label(err) == "denied_host" ? "denied" : "error";
  if (metrics::enabled()) metrics::record_host_http(outcome);
  if (span && span->recording()) {
    if (res) span->attribute("http.response.status_code", std::to_string(res->status));
    else span->fail(err->message);
  }
  return res;
}

// ---- CompiledPlugin ---------------------------------------------------------------------------

Result<void> CompiledPlugin::resolve_imports() {
  std::vector<std::string> problems;
  for (const auto& imp : info_.imports) {
    const engine::HostFunc* f =
        imp.kind == engine::ExternKind::Func ? find_host_function(imp.module, imp.name) : nullptr;
    if (!f) {
      problems.push_back(missing_import_message(imp));
    } else if (!(f->type == imp.type)) {
      problems.push_back(fmt::format("the plugin imports \"{}\".\"{}\" with type {}, but the host function has type {}",
                                     imp.module, imp.name, imp.type.to_string(), f->type.to_string()));
    }
    imports_.push_back(f);
    if (imp.module == "wasi_snapshot_preview1" && imp.name.starts_with("path_")) uses_file_system_ = true;
  }
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) msg += "; " + problems[i];
    return Error(ErrorKind::InvalidModule, msg);
  }
  return {};
}

Result<std::shared_ptr<const CompiledPlugin>> CompiledPlugin::load(std::span<const uint8_t> wasm, PluginOptions options) {
  auto module = engine::Module::compile(wasm);
  if (!module) return module.take_error();
  std::shared_ptr<CompiledPlugin> p(new CompiledPlugin());
  p->info_ = (*module)->info();
  p->wasm_.assign(wasm.begin(), wasm.end());
  if (auto r = p->resolve_imports(); !r) return r.take_error();
  p->module_ = std::move(*module);
  if (options.tier == Tier::Native) {
    if (options.native.cache_dir.empty()) options.native = default_native_options();
    auto code = engine::load_native(*p->module_, options.native);
    if (!code) {
      ErrorKind k = code.error().kind;
      return Error(k == ErrorKind::Timeout || k == ErrorKind::Cancelled ? k : ErrorKind::Internal,
                   "native tier: " + code.error().message);
    }
    p->native_ = std::move(*code);
  }
  p->vars_ = std::make_unique<VarStore>(options.limits.max_var_bytes);
  if (!options.watchdog) options.watchdog = std::make_shared<engine::Watchdog>();
  p->options_ = std::move(options);
  return std::shared_ptr<const CompiledPlugin>(std::move(p));
}

Result<std::shared_ptr<const CompiledPlugin>> CompiledPlugin::describe(std::vector<uint8_t> wasm, engine::ModuleInfo info,
                                                                       PluginOptions options) {
  std::shared_ptr<CompiledPlugin> p(new CompiledPlugin());
  p->info_ = std::move(info);
  p->wasm_ = std::move(wasm);
  if (auto r = p->resolve_imports(); !r) return r.take_error();
  p->vars_ = std::make_unique<VarStore>(options.limits.max_var_bytes);
  p->options_ = std::move(options);
  return std::shared_ptr<const CompiledPlugin>(std::move(p));
}

Result<void> CompiledPlugin::check_function(std::string_view name) const {
  const engine::ExportDesc* e = info_.find_export(name);
  if (!e || e->kind != engine::ExternKind::Func) {
    return Error(ErrorKind::NotFound, fmt::format("function \"{}\" does not exist in plugin \"{}\"", name, options_.name));
  }
  if (!is_plugin_signature(e->type)) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("function \"{}\" of plugin \"{}\" has type {}; plugin functions must be ()->() or ()->(i32)",
                             name, options_.name, e->type.to_string()));
  }
  return {};
}

std::vector<std::string> CompiledPlugin::plugin_functions() const {
  static const char* lifecycle[] = {"_start", "_initialize", "__wasm_call_ctors", "hs_init"};
  std::vector<std::string> out;
  for (const auto& e : info_.exports) {
    if (e.kind != engine::ExternKind::Func || !is_plugin_signature(e.type)) continue;
    bool skip = false;
    for (const char* l : lifecycle) skip = skip || e.name == l;
    if (!skip) out.push_back(e.name);
  }
  return out;
}

// ---- PluginInstance ---------------------------------------------------------------------------

PluginInstance::~PluginInstance() = default;

namespace {

engine::CallControl control_for(const PluginOptions& opts, const CallOptions* call) {
  engine::CallControl ctl;
  std::optional<std::chrono::milliseconds> t = call ? call->timeout : std::nullopt;
  if (!t && opts.limits.timeout_ms > 0) t = std::chrono::milliseconds(opts.limits.timeout_ms);
  if (t) ctl.deadline = Deadline::after(*t);
  ctl.cancel = call ? call->cancel : nullptr;
  return ctl;
}

// The trap's own message comes first (it starts with "timeout", "oom" or "wasm trap"), then
// the phase it happened in.
Error error_from_trap(const engine::Trap& t, std::string_view during) {
  if (t.exit_code) return Error(ErrorKind::PluginError, fmt::format("the plugin exited with code {} during {}", *t.exit_code, during));
  return Error(t.kind, fmt::format("{} (during {})", t.message, during));
}

}  // namespace

Result<std::unique_ptr<PluginInstance>> PluginInstance::create(std::shared_ptr<const CompiledPlugin> plugin,
                                                               std::shared_ptr<const engine::NativeCode> native) {
  if (!plugin->module_ptr()) {
    return Error(ErrorKind::Internal, fmt::format("plugin \"{}\" was described, not loaded, in this process", plugin->options().name));
  }
  if (!native) native = plugin->native_code();
  auto state = std::make_unique<InstanceState>(*plugin);
  engine::CallControl ctl = control_for(plugin->options(), nullptr);
  state->begin_call(&default_sink(), &ctl);
  // Extism's memory limit: a module whose initial memory exceeds max_pages cannot start; after
  // that, max_pages is the budget for growth (Extism charges the initial pages at
  // instantiation and then resets the budget).
  const uint32_t max_pages = plugin->options().limits.max_pages;
  uint64_t initial = plugin->info().memory ? plugin->info().memory->initial_pages : 0;
  if (initial > max_pages) {
    return Error(ErrorKind::OutOfMemory,
                 fmt::format("oom: the module needs {} pages of memory at start, more than its limit of {} pages",
                             initial, max_pages));
  }
  engine::InstanceLimits limits;
  limits.max_memory_pages = static_cast<uint32_t>(std::min<uint64_t>(engine::kMaxMemoryPages, initial + max_pages));
  const uint64_t table_budget = std::max<uint64_t>(uint64_t(max_pages) * 65536, 64ull << 20) / PluginLimits::kTableElementBytes;
  limits.max_table_elements =
      static_cast<uint32_t>(std::min<uint64_t>(table_budget / std::max<uint32_t>(1, plugin->info().table_count), 10'000'000));
  auto inst = native ? engine::instantiate_native(plugin->module_ptr(), native, plugin->imports(), state.get(), limits, ctl,
                                                  plugin->options().watchdog.get())
                     : engine::instantiate_interp(plugin->module_ptr(), plugin->imports(), state.get(), limits, ctl);
  if (auto* trap = std::get_if<engine::Trap>(&inst)) {
    return error_from_trap(*trap, "instantiation");
  }
  std::unique_ptr<PluginInstance> p(new PluginInstance());
  p->plugin_ = std::move(plugin);
  p->state_ = std::move(state);
  p->instance_ = std::move(std::get<0>(inst));
  if (!p->plugin_->options().command) {  // a command's _start runs its own constructors
    if (auto r = p->initialize(); !r) return r.take_error();
  }
  return p;
}

Result<void> PluginInstance::initialize() {
  const engine::ModuleInfo& m = plugin_->info();
  auto is_void = [&](const char* name) {
    const engine::ExportDesc* e = m.find_export(name);
    return e && e->kind == engine::ExternKind::Func && e->type.params.empty() && e->type.results.empty();
  };
  std::vector<std::pair<std::string, std::vector<engine::Slot>>> steps;
  const engine::ExportDesc* hs = m.find_export("hs_init");
  if (hs && hs->kind == engine::ExternKind::Func) {
    if (is_void("_initialize")) steps.push_back({"_initialize", {}});
    steps.push_back({"hs_init", std::vector<engine::Slot>(hs->type.params.size(), 0)});
  } else if (is_void("__wasm_call_ctors")) {
    steps.push_back({"__wasm_call_ctors", {}});
  } else if (is_void("_initialize")) {
    steps.push_back({"_initialize", {}});
  }
  for (auto& [name, args] : steps) {
    engine::CallControl ctl = control_for(plugin_->options(), nullptr);
    state_->begin_call(&default_sink(), &ctl);
    state_->kernel.reset();
    auto res = instance_->call(name, args, ctl);
    if (auto* trap = std::get_if<engine::Trap>(&res)) {
      if (trap->exit_code && *trap->exit_code == 0) continue;
      return error_from_trap(*trap, fmt::format("plugin initialisation ({})", name));
    }
  }
  state_->kernel.reset();
  return {};
}

// A WASI command: `_start` with the input on stdin; stdout is the output, a non-zero exit code or
// stderr output an error. The instance is spent afterwards (a command runs once per instance).
CallOutcome PluginInstance::call_command(std::string_view function, std::string_view input, const CallOptions& options) {
  CallOutcome out;
  engine::CallControl ctl = control_for(plugin_->options(), &options);
  state_->begin_call(options.sink ? options.sink : &default_sink(), &ctl, options.services, options.trace);
  state_->stdin_data = input;
  state_->argv = options.argv;
  engine::CallResult res = instance_->call(function, {}, ctl);
  reusable_ = false;
  std::string err = state_->command_stderr;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  if (err.size() > 4096) err = err.substr(0, 4096) + "...";
  if (const engine::Trap* trap = std::get_if<engine::Trap>(&res)) {
    if (trap->exit_code) {
      out.rc = *trap->exit_code;
      if (out.rc != 0) {
        out.error = Error(ErrorKind::PluginError, fmt::format("the command exited with code {}{}", out.rc, err.empty() ? "" : ": " + err));
        return out;
      }
    } else {
      out.rc = -1;
      out.error = Error(trap->kind, err.empty() ? trap->message : trap->message + "; stderr: " + err);
      return out;
    }
  }
  if (!err.empty()) {
    out.error = Error(ErrorKind::PluginError, err);
    return out;
  }
  out.output = std::move(state_->command_stdout);
  return out;
}

CallOutcome PluginInstance::call(std::string_view function, std::string_view input, const CallOptions& options) {
  CallOutcome out;
  const PluginOptions& opts = plugin_->options();
  if (auto chk = plugin_->check_function(function); !chk) {
    out.error = chk.take_error();
    out.rc = -1;
    return out;
  }
  if (opts.command) return call_command(function, input, options);
  engine::CallControl ctl = control_for(opts, &options);
  CallSink* sink = options.sink ? options.sink : &default_sink();
  state_->begin_call(sink, &ctl, options.services, options.trace);
  Kernel& k = state_->kernel;
  k.reset();
  if (!input.empty()) {
    uint64_t off = k.alloc_bytes(input);
    if (off == 0) {
      out.error = Error(ErrorKind::OutOfMemory,
                        fmt::format("oom: the input ({} bytes) does not fit in the plugin's memory limit ({} bytes)",
                                    input.size(), k.max_bytes()));
      out.rc = -1;
      return out;
    }
    k.input_set(off, input.size());
  }

  engine::CallResult res = instance_->call(function, {}, ctl);
  if (function == "_start") reusable_ = false;  // as Extism: a called _start means a fresh instance next

  std::optional<std::string> error_text;
  if (uint64_t eoff = k.error_get(); eoff != 0) {
    if (auto b = k.block(eoff); b && !b->empty()) error_text = std::string(*b);
  }

  const engine::Trap* trap = std::get_if<engine::Trap>(&res);
  bool exit_ok = false;
  if (trap) {
    if (trap->exit_code) {
      reusable_ = false;
      out.rc = *trap->exit_code;
      exit_ok = out.rc == 0;
    } else if (trap->kind == ErrorKind::Timeout || trap->kind == ErrorKind::Cancelled || trap->kind == ErrorKind::OutOfMemory) {
      reusable_ = false;
    }
  } else {
    const auto& values = std::get<std::vector<engine::Slot>>(res);
    out.rc = values.empty() ? 0 : static_cast<int32_t>(static_cast<uint32_t>(values[0]));
  }

  // Error precedence: the host's limits (timeout, out of memory) first, then the plugin's error
  // text, then a trap or a host error, then the exit code or return code.
  if (trap && !trap->exit_code &&
      (trap->kind == ErrorKind::Timeout || trap->kind == ErrorKind::Cancelled || trap->kind == ErrorKind::OutOfMemory)) {
    out.error = Error(trap->kind, trap->message);
    out.rc = -1;
  } else if (error_text) {
    out.error = Error(ErrorKind::PluginError, *error_text);
    if (trap && !trap->exit_code) out.rc = trap->kind == ErrorKind::Trap ? 134 : -1;
  } else if (trap && !trap->exit_code) {
    out.error = Error(trap->kind, trap->message);
    out.rc = trap->kind == ErrorKind::Trap ? 134 : -1;
  } else if (trap && !exit_ok) {
    out.error = Error(ErrorKind::PluginError, fmt::format("the plugin exited with code {}", out.rc));
  } else if (!trap && out.rc != 0) {
    out.error = Error(ErrorKind::PluginError, fmt::format("Returned non-zero exit code: {}", out.rc));
  }

  if (!out.error && state_->fs_attempted) {
    // The plugin looked for files (a WASI preopen scan or path call during the call). It may
    // have coped, but the user should know why it saw no files rather than get a silent success.
    out.error = Error(ErrorKind::HostError,
                      "file system access is not granted: the plugin tried to use files through WASI, and plugins "
                      "have no file system access on this server");
    out.rc = -1;
  }
  if (!out.error) {
    uint64_t olen = k.output_length();
    auto bytes = k.range(k.output_offset(), olen);
    if (!bytes) {
      out.error = Error(ErrorKind::HostError,
                        fmt::format("output_set: the range of {} bytes at offset {} lies outside the plugin's kernel memory",
                                    olen, k.output_offset()));
      out.rc = -1;
    } else {
      out.output.assign(bytes->data(), bytes->size());
    }
  }
  // The plugin's own error text stays exactly as it set it; host messages get what helps: the
  // plugin's stdout (TinyGo panics land there) and a note when it looked for files.
  if (out.error && !error_text) {
    std::string& msg = out.error->message;
    std::string captured = state_->captured_stdout;
    while (!captured.empty() && (captured.back() == '\n' || captured.back() == '\r')) captured.pop_back();
    if (!captured.empty() && msg.find(captured) == std::string::npos) {
      if (captured.size() > 4096) captured = captured.substr(0, 4096) + "...";
      msg += "; plugin output: " + captured;
    }
  }
  if (out.error && (state_->fs_attempted || plugin_->uses_file_system()) &&
      out.error->message.find("file system access") == std::string::npos) {
    out.note = "the plugin uses WASI file functions, and plugins have no file system access on this server";
  }
  return out;
}

}  // namespace wasimancer::host
