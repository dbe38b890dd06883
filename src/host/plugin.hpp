// host/plugin.hpp: Extism plugins on top of the engine: load, instantiate, call.
//
//   CompiledPlugin  validated module + resolved host imports + options + the version's vars.
//                   Immutable (except its VarStore, which is internally synchronised) and shared
//                   through shared_ptr<const CompiledPlugin>; safe from any thread.
//   PluginInstance  one instantiation with its own kernel memory. One call at a time, from one
//                   thread at a time; it may move between threads between calls.
//   CallSink        where a call's side effects go (plugin logs, stdout, MCP progress...). The
//                   caller owns it and keeps it alive for the duration of the call; it is invoked
//                   on the thread running the call.
//   Services        what host functions reach beyond the instance besides the sink: the
//                   version's vars and outbound HTTP. In-process, the plugin's own; in a sandbox
//                   worker, a channel to the server, which applies its own checks.
//   Runner          one ready instance of a plugin, wherever it runs: PluginInstance (this
//                   process) or sandbox::RemoteInstance (a sandbox worker process).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/trace.hpp"
#include "core/rate_limit.hpp"
#include "engine/instance.hpp"
#include "engine/module.hpp"
#include "engine/native.hpp"
#include "engine/watchdog.hpp"
#include "host/http_client.hpp"
#include "host/vars.hpp"
#include "host/wasi_fs.hpp"

namespace wasimancer::host {

// Per-plugin limits. Each has a plugins.yml key (in parentheses) and the default shown.
struct PluginLimits {
  static constexpr uint32_t kDefaultMaxPages = 1024;                   // 64 MiB (maxPages)
  static constexpr uint32_t kDefaultTimeoutMs = 30000;                 // 30 s (timeoutMs)
  static constexpr uint64_t kDefaultMaxHttpResponseBytes = 50ull << 20; // 50 MiB (maxHttpResponseBytes)
  static constexpr uint64_t kDefaultMaxVarBytes = 1ull << 20;          // 1 MiB (maxVarBytes)
  static constexpr uint64_t kDefaultMaxLogBytes = 1ull << 20;          // 1 MiB per call (maxLogBytes)
  static constexpr uint64_t kTableElementBytes = 32;                   // what a table element is charged

  // Memory limit in 64 KiB pages, with Extism's meaning: a module whose initial memory is
  // larger cannot start, and the plugin memory may then grow by up to this many pages. The
  // kernel memory (input, output, logs, HTTP bodies) is capped at this size too, and so are the
  // tables: together at most max(this, 64 MiB) / kTableElementBytes elements, shared equally.
  uint32_t max_pages = kDefaultMaxPages;
  // Wall-clock limit of one call (and of instantiation); 0 means no limit.
  uint32_t timeout_ms = kDefaultTimeoutMs;
  uint64_t max_http_response_bytes = kDefaultMaxHttpResponseBytes;
  // Size of the version's var store; 0 disables vars.
  uint64_t max_var_bytes = kDefaultMaxVarBytes;
  // Bytes of log messages and stdout/stderr a single call may produce.
  uint64_t max_log_bytes = kDefaultMaxLogBytes;
};

enum class Tier { Interpreter, Native };

// The tier CompiledPlugin::load prepares when asked for none: WASIMANCER_TIER=native selects
// the native tier (used by `wasimancer call` and to run the test suites on both tiers);
// otherwise the interpreter. The server tiers up in the background instead (registry).
Tier default_tier();
// Where native builds are cached: WASIMANCER_NATIVE_CACHE, else $XDG_CACHE_HOME/wasimancer/native,
// else ~/.cache/wasimancer/native. WASIMANCER_NATIVE_OPT (-O0, -O2...) picks the optimisation.
engine::NativeOptions default_native_options();

struct PluginOptions {
  std::string name = "plugin";                 // for log lines and messages
  std::map<std::string, std::string> config;   // what config_get sees
  std::vector<std::string> allowed_hosts;      // globs; empty denies every HTTP request
  bool http_response_headers = true;           // http_headers returns the headers (else 0)
  PluginLimits limits;
  LogLevel log_level = LogLevel::Info;         // what get_log_level reports; lower levels dropped
  Tier tier = default_tier();                  // Native: load() builds (or finds) native code
  engine::NativeOptions native;                // empty cache_dir: default_native_options()
  // Interrupts native calls at their deadline; shared by every plugin of an application. When
  // null, load() gives the plugin one of its own.
  std::shared_ptr<engine::Watchdog> watchdog;
  // A WASI command (`kind: command`): a plain wasm32-wasi program, no Extism kernel. A call runs
  // its `_start` with the input on stdin and the arguments in CallOptions::argv; stdout is the
  // output; a non-zero exit code or anything on stderr fails the call (PluginError, with stderr).
  bool command = false;
  // Folders the plugin may use through WASI (`allowedPaths`; host/wasi_fs.hpp), opened once per
  // plugin version. Null or empty: no file system (the WASI file functions fail with EBADF/ENOSYS
  // and a call that tried them says so).
  std::shared_ptr<const Preopens> preopens;
};

// Receives a call's side effects. Every method has a working default: plugin logs and stdout
// go to the server log (rate-limited per plugin: plugin_log_limiter()), and the MCP-only
// features report that no client is attached.
class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void plugin_log(const PluginOptions& plugin, LogLevel level, std::string_view message);
  virtual void plugin_stdout(const PluginOptions& plugin, int fd, std::string_view text);
  // wasimancer:host/mcp (see docs/host-abi.md). `json` is the plugin's request.
  virtual bool progress(std::string_view json);
  virtual void client_log(int level, std::string_view message);
  virtual Result<std::string> sample(std::string_view request_json);
  virtual Result<std::string> elicit(std::string_view request_json);
  // hyper-mcp's interface (extism:host/user): the client's roots (a ListRootsResult JSON), and a
  // notification the plugin sends (`method` is the MCP method, e.g. "notifications/tools/
  // list_changed"; `params_json` its params).
  virtual Result<std::string> list_roots();
  virtual void notify(std::string_view method, std::string_view params_json);
};

// The limiter the default CallSink puts plugin log lines through (keyed by plugin name).
RateLimiter& plugin_log_limiter();

class Services {
 public:
  virtual ~Services() = default;
  virtual std::optional<std::string> var_get(std::string_view key) = 0;
  // Errors: HostError (over the var store's size limit).
  virtual Result<void> var_set(std::string_view key, std::optional<std::string_view> value) = 0;
  // The plugin's HTTP policy applies (host/http_client.hpp); errors as http_fetch's.
  virtual Result<HttpResponse> http(const HttpRequest& request, const Deadline& deadline, const std::atomic<bool>* cancel) = 0;
};

// The plugin's own vars and HTTP policy: what in-process calls use, and what the server uses to
// serve a sandbox worker's requests. Borrows the plugin, which must outlive it.
class CompiledPlugin;
class PluginServices final : public Services {
 public:
  explicit PluginServices(const CompiledPlugin& p) : plugin_(p) {}
  std::optional<std::string> var_get(std::string_view key) override;
  Result<void> var_set(std::string_view key, std::optional<std::string_view> value) override;
  Result<HttpResponse> http(const HttpRequest& request, const Deadline& deadline, const std::atomic<bool>* cancel) override;

 private:
  const CompiledPlugin& plugin_;
};

struct CallOptions {
  CallSink* sink = nullptr;                     // nullptr: the default CallSink
  Services* services = nullptr;                 // nullptr: the plugin's own vars and HTTP policy
  const std::atomic<bool>* cancel = nullptr;    // set to stop the call
  std::optional<std::chrono::milliseconds> timeout;  // overrides limits.timeout_ms
  // The trace of the call (the plugin call's span): its outgoing HTTP requests carry a
  // `traceparent` header of a child span (traced_http). Null: no trace context is sent.
  const trace::TraceContext* trace = nullptr;
  // A WASI command's argv (after the program name, which is the plugin's name).
  std::vector<std::string> argv;
};

// An HTTP request of a plugin through `services`, as a child span of `parent` (when set): the
// request carries that span's `traceparent` (replacing one the plugin set), and the span and
// wasimancer_host_http_requests_total record how it went.
Result<HttpResponse> traced_http(Services& services, HttpRequest request, const Deadline& deadline,
                                 const std::atomic<bool>* cancel, const trace::TraceContext* parent);

struct CallOutcome {
  std::string output;
  int32_t rc = 0;
  // Set when the call failed: PluginError (error_set, non-zero rc or exit code), Trap,
  // Timeout, OutOfMemory or HostError.
  std::optional<Error> error;
  // Advice for a failed call that the error text itself does not give (the plugin's own error
  // text is never altered): e.g. that plugins have no file system access.
  std::optional<std::string> note;

  bool ok() const { return !error.has_value(); }
};

class CompiledPlugin {
 public:
  // Validates and compiles `wasm` in this process, and resolves every import against the host
  // ABI. Fails with InvalidModule naming every import the host does not provide.
  static Result<std::shared_ptr<const CompiledPlugin>> load(std::span<const uint8_t> wasm, PluginOptions options);
  // A plugin whose module was parsed elsewhere (a sandbox worker sent `info`): nothing of the
  // module is parsed in this process and module_ptr() is null. Imports are resolved and checked
  // as by load().
  static Result<std::shared_ptr<const CompiledPlugin>> describe(std::vector<uint8_t> wasm, engine::ModuleInfo info,
                                                                PluginOptions options);

  const engine::ModuleInfo& info() const { return info_; }
  const std::vector<uint8_t>& wasm() const { return wasm_; }  // the module as uploaded
  std::shared_ptr<const engine::Module> module_ptr() const { return module_; }  // null if described
  const PluginOptions& options() const { return options_; }
  VarStore& vars() const { return *vars_; }
  const engine::ImportTable& imports() const { return imports_; }
  // The native code load() prepared (options().tier == Native), or null.
  std::shared_ptr<const engine::NativeCode> native_code() const { return native_; }

  // Ok if `name` is an exported function of type ()->() or ()->i32.
  Result<void> check_function(std::string_view name) const;
  // Whether the module imports WASI file functions (which this host never grants).
  bool uses_file_system() const { return uses_file_system_; }
  // The exported functions a caller may use as plugin functions.
  std::vector<std::string> plugin_functions() const;

 private:
  CompiledPlugin() = default;
  Result<void> resolve_imports();
  engine::ModuleInfo info_;
  std::vector<uint8_t> wasm_;
  std::shared_ptr<const engine::Module> module_;
  PluginOptions options_;
  std::unique_ptr<VarStore> vars_;
  engine::ImportTable imports_;
  bool uses_file_system_ = false;
  std::shared_ptr<const engine::NativeCode> native_;
};

struct InstanceState;

class Runner {
 public:
  virtual ~Runner() = default;
  virtual CallOutcome call(std::string_view function, std::string_view input, const CallOptions& options = {}) = 0;
  // False after a call that may have left the instance inconsistent (timeout, out of memory,
  // proc_exit, an explicit _start, a crashed worker): the owner should discard it.
  virtual bool reusable() const = 0;
  virtual std::string tier_name() const = 0;
};

class PluginInstance final : public Runner {
 public:
  // Instantiates and runs the guest's initialisation (_initialize, __wasm_call_ctors or
  // hs_init; never _start) under the plugin's timeout: on `native` code when given, else on the
  // plugin's own native code when it has some, else on the interpreter.
  static Result<std::unique_ptr<PluginInstance>> create(std::shared_ptr<const CompiledPlugin> plugin,
                                                        std::shared_ptr<const engine::NativeCode> native = nullptr);

  ~PluginInstance() override;

  CallOutcome call(std::string_view function, std::string_view input, const CallOptions& options = {}) override;
  bool reusable() const override { return reusable_; }
  std::string tier_name() const override { return std::string(instance_->tier_name()); }
  const CompiledPlugin& plugin() const { return *plugin_; }

 private:
  PluginInstance() = default;
  Result<void> initialize();
  CallOutcome call_command(std::string_view function, std::string_view input, const CallOptions& options);

  std::shared_ptr<const CompiledPlugin> plugin_;
  std::unique_ptr<InstanceState> state_;
  std::unique_ptr<engine::Instance> instance_;
  bool reusable_ = true;
};

}  // namespace wasimancer::host
