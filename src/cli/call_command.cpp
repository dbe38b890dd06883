#include "cli/call_command.hpp"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/signals.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "host/plugin.hpp"

namespace wasimancer::cli {

namespace {

struct CallArgs {
  std::string file;
  std::string function;
  std::string input;
  std::string input_file;
  std::vector<std::string> config;
  std::vector<std::string> allow_hosts;
  uint32_t timeout_ms = 0;
  uint32_t max_pages = host::PluginLimits::kDefaultMaxPages;
  std::string log_level = "error";
  bool no_http_headers = false;
  uint32_t loop = 1;
  bool native = false;
  uint64_t max_var_bytes = host::PluginLimits::kDefaultMaxVarBytes;
  uint64_t max_http_response_bytes = host::PluginLimits::kDefaultMaxHttpResponseBytes;
};

// While a slow load runs (a native build: wasm2c and the C compiler, seconds for a large module
// the first time; later runs find it in the cache), shows on a terminal what is happening and
// for how long. Silent when stderr is not a terminal (pipelines and scripts read it) and for
// loads that finish within the first moment (cached builds, the interpreter).
class LoadProgress {
 public:
  LoadProgress(bool enabled, std::string what) : what_(std::move(what)) {
    if (enabled) thread_ = std::thread([this] { run(); });
  }
  ~LoadProgress() { finish(); }
  void finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    using namespace std::chrono;
    auto start = steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, milliseconds(300), [this] { return done_; })) return;
    while (!cv_.wait_for(lock, milliseconds(500), [this] { return done_; })) {
      fmt::print(stderr, "\r{} ... {:.0f} s", what_, duration<double>(steady_clock::now() - start).count());
      std::fflush(stderr);
    }
    fmt::print(stderr, "\r{} ... done in {:.1f} s\n", what_, duration<double>(steady_clock::now() - start).count());
    std::fflush(stderr);
  }

  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

int run_call(const CallArgs& a) {
  die_on_stop_signal();  // Ctrl-C ends the call (signals are blocked in every thread: cli/signals.hpp)
  auto level = parse_log_level(a.log_level);
  if (!level) {
    fmt::print(stderr, "error: unknown log level \"{}\" (trace, debug, info, warn, error, off)\n", a.log_level);
    return 2;
  }
  init_logging(*level);

  auto bytes = read_file(a.file, 512ull << 20);
  if (!bytes) {
    fmt::print(stderr, "error: {}\n", bytes.error().message);
    return 1;
  }
  std::string input = a.input;
  if (!a.input_file.empty()) {
    auto in = read_file(a.input_file);
    if (!in) {
      fmt::print(stderr, "error: {}\n", in.error().message);
      return 1;
    }
    input = std::move(*in);
  }

  host::PluginOptions opts;
  opts.name = a.file;
  for (const auto& kv : a.config) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      fmt::print(stderr, "error: --config takes KEY=VALUE, got \"{}\"\n", kv);
      return 2;
    }
    opts.config[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  opts.allowed_hosts = a.allow_hosts;  // like extism call: no host unless given
  opts.limits.timeout_ms = a.timeout_ms;
  opts.limits.max_pages = a.max_pages;
  opts.limits.max_var_bytes = a.max_var_bytes;
  opts.limits.max_http_response_bytes = a.max_http_response_bytes;
  opts.log_level = *level;
  opts.http_response_headers = !a.no_http_headers;
  if (a.native) opts.tier = host::Tier::Native;

  const auto* data = reinterpret_cast<const uint8_t*>(bytes->data());
  std::filesystem::path cache = opts.native.cache_dir.empty() ? host::default_native_options().cache_dir : opts.native.cache_dir;
  std::string file_name = std::filesystem::path(a.file).filename().string();
  std::string progress_text = opts.tier == host::Tier::Native
                                  ? fmt::format("building native code for {} (once: cached in {})", file_name, cache.string())
                                  : fmt::format("loading {}", file_name);
  LoadProgress progress(*level != LogLevel::Off && isatty(STDERR_FILENO), progress_text);
  auto plugin = host::CompiledPlugin::load(std::span<const uint8_t>(data, bytes->size()), std::move(opts));
  progress.finish();
  if (!plugin) {
    fmt::print(stderr, "error: cannot load {}: {}\n", a.file, plugin.error().message);
    return 1;
  }
  if (auto chk = (*plugin)->check_function(a.function); !chk) {
    // Name what can be called, as the admin API does.
    auto functions = (*plugin)->plugin_functions();
    std::string exports = functions.empty() ? "; the module exports no plugin function (of type ()->() or ()->(i32))"
                                            : fmt::format("; the module exports: {}", fmt::join(functions, ", "));
    fmt::print(stderr, "error ({}): {}{}\n", to_string(chk.error().kind), chk.error().message, exports);
    return 1;
  }
  std::unique_ptr<host::PluginInstance> instance;
  for (uint32_t i = 0; i < a.loop; ++i) {
    if (!instance || !instance->reusable()) {  // a call that timed out or exited leaves it unusable
      auto made = host::PluginInstance::create(*plugin);
      if (!made) {
        fmt::print(stderr, "error ({}): {}\n", to_string(made.error().kind), made.error().message);
        return 1;
      }
      instance = std::move(*made);
    }
    host::CallOutcome out = instance->call(a.function, input);
    if (!out.ok()) {
      fmt::print(stderr, "error ({}): {}\n", to_string(out.error->kind), out.error->message);
      if (out.note) fmt::print(stderr, "note: {}\n", *out.note);
      return 1;
    }
    std::fwrite(out.output.data(), 1, out.output.size(), stdout);
    if (a.loop > 1) std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

void add_call_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CallArgs>();
  CLI::App* cmd = app.add_subcommand("call", "Call one function of a plugin, like `extism call`");
  cmd->add_option("file", args->file, "The plugin's .wasm file")->required();
  cmd->add_option("function", args->function, "The exported function to call")->required();
  auto* in = cmd->add_option("--input", args->input, "The input text");
  cmd->add_option("--input-file", args->input_file, "Read the input from a file")->excludes(in);
  cmd->add_option("--config", args->config, "A config value KEY=VALUE for config_get (repeatable)");
  cmd->add_option("--allow-host", args->allow_hosts, "A host glob the plugin may send HTTP requests to (repeatable)");
  cmd->add_option("--timeout-ms", args->timeout_ms, "Stop the call after this many milliseconds (0: no limit)");
  cmd->add_option("--max-pages", args->max_pages, "Memory limit in 64 KiB pages")->capture_default_str();
  cmd->add_option("--max-var-bytes", args->max_var_bytes, "Size of the var store (0 disables vars)")->capture_default_str();
  cmd->add_option("--max-http-response-bytes", args->max_http_response_bytes, "Largest HTTP response body accepted")
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level, "Plugin log level: trace, debug, info, warn, error, off")
      ->capture_default_str();
  cmd->add_option("--loop", args->loop, "Call the function this many times on one instance (outputs end with a newline)")
      ->check(CLI::Range(1u, 1000000u));
  cmd->add_flag("--native", args->native,
                "Run on the native tier (wasm2c + the C compiler; builds are cached; WASIMANCER_TIER=native does the same)");
  cmd->add_flag("--no-http-headers", args->no_http_headers, "Make http_headers return nothing");
  cmd->callback([args, exit_code] { *exit_code = run_call(*args); });
}

}  // namespace wasimancer::cli
