#include "cli/serve_command.hpp"

#include <sys/resource.h>

#include <cctype>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <thread>

#include <fmt/format.h>

#include "admin/admin_api.hpp"
#include "core/crypto.hpp"
#include "core/log.hpp"
#include "core/worker_pool.hpp"
#include "mcp/server.hpp"
#include "cli/dist_settings.hpp"
#include "registry/catalog.hpp"
#include "registry/native_tier.hpp"
#include "registry/plugin_manager.hpp"
#include "sandbox/sandbox.hpp"
#include "transport/http_server.hpp"
#include "transport/stdio.hpp"

extern char** environ;

namespace wasimancer::cli {

namespace fs = std::filesystem;

namespace {

// Every setting, with its environment variable (WASImancer's names where it has one).
struct ServeOptions {
  uint16_t port = 3001;
  std::string bind = "0.0.0.0";
  std::string plugins_path, plugins_file = "plugins.yml", upload_path;
  std::string resources_path, resources_file = "resources.yml";
  std::string prompts_path, prompts_file = "prompts.yml";
  std::string admin_token, auth_token;
  std::vector<std::string> allowed_hosts, allowed_origins;
  uint64_t max_body_bytes = 4ull << 20;
  uint64_t max_upload_bytes = 10ull << 20;
  uint32_t max_header_bytes = 16 * 1024;
  size_t max_connections = 1024;
  size_t max_sessions = 1000;
  uint32_t session_idle_timeout = 3600;
  uint32_t idle_timeout = 120;
  size_t workers = 0;           // 0: one per core
  unsigned plugin_share = WorkerPool::kDefaultSharePercent;  // % of the workers one plugin may hold
  size_t network_threads = 2;
  std::string log_level = "info";
  bool skip_broken = false;
  bool stdio = false;
  std::string native = "on";   // on | quick | off
  std::string native_cache;    // default: host::default_native_options().cache_dir
  uint32_t native_build_timeout = 120;   // seconds per build
  uint32_t native_build_memory = 2048;   // MiB of address space per build process
  size_t native_builds = 1;              // builds at once
  std::string isolation = "process";     // process | none
  std::string state_key;                 // 2026-07-28 requestState HMAC key (empty: random per process)
  uint32_t state_ttl = 600;              // seconds a requestState stays valid
  uint32_t task_ttl = 3600;              // seconds a finished task is kept
};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// A whole number in T's range (as the flags are checked), or a problem naming the variable.
template <typename T>
bool env_number(const char* name, T* out, std::string* problem) {
  auto v = env(name);
  if (!v) return true;
  size_t used = 0;
  unsigned long long n = 0;
  try {
    if (std::isdigit(static_cast<unsigned char>((*v)[0]))) n = std::stoull(*v, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != v->size() || n > std::numeric_limits<T>::max()) {
    *problem = fmt::format("{}={} is not a whole number between 0 and {}", name, *v, std::numeric_limits<T>::max());
    return false;
  }
  *out = static_cast<T>(n);
  return true;
}

// Environment first; command-line flags (parsed afterwards into the same struct) override.
bool load_env(ServeOptions& o, std::string* problem) {
  if (!env_number(env("HTTP_PORT") ? "HTTP_PORT" : "PORT", &o.port, problem)) return false;
  if (auto v = env("WASIMANCER_BIND")) o.bind = *v;
  if (auto v = env("PLUGINS_PATH")) o.plugins_path = *v;
  if (auto v = env("PLUGINS_DEFINITION_FILE")) o.plugins_file = *v;
  if (auto v = env("UPLOAD_PATH")) o.upload_path = *v;
  if (auto v = env("RESOURCES_PATH")) o.resources_path = *v;
  if (auto v = env("RESOURCES_DEFINITION_FILE")) o.resources_file = *v;
  if (auto v = env("PROMPTS_PATH")) o.prompts_path = *v;
  if (auto v = env("PROMPTS_DEFINITION_FILE")) o.prompts_file = *v;
  if (auto v = env("WASIMANCER_ADMIN_TOKEN")) o.admin_token = *v;
  if (auto v = env("WASIMANCER_AUTHENTICATION_TOKEN")) o.auth_token = *v;
  if (auto v = env("WASIMANCER_ALLOWED_HOSTS")) o.allowed_hosts = split_list(*v);
  if (auto v = env("WASIMANCER_ALLOWED_ORIGINS")) o.allowed_origins = split_list(*v);
  if (env("DEBUG")) o.log_level = "debug";
  if (auto v = env("WASIMANCER_LOG_LEVEL")) o.log_level = *v;
  if (auto v = env("WASIMANCER_NATIVE")) o.native = *v;
  if (auto v = env("WASIMANCER_NATIVE_CACHE")) o.native_cache = *v;
  if (auto v = env("WASIMANCER_ISOLATION")) o.isolation = *v;
  if (auto v = env("WASIMANCER_STATE_KEY")) o.state_key = *v;
  return env_number("WASIMANCER_MAX_BODY_BYTES", &o.max_body_bytes, problem) &&
         env_number("WASIMANCER_MAX_UPLOAD_BYTES", &o.max_upload_bytes, problem) &&
         env_number("WASIMANCER_MAX_HEADER_BYTES", &o.max_header_bytes, problem) &&
         env_number("WASIMANCER_MAX_CONNECTIONS", &o.max_connections, problem) &&
         env_number("WASIMANCER_MAX_SESSIONS", &o.max_sessions, problem) &&
         env_number("WASIMANCER_SESSION_IDLE_TIMEOUT", &o.session_idle_timeout, problem) &&
         env_number("WASIMANCER_IDLE_TIMEOUT", &o.idle_timeout, problem) &&
         env_number("WASIMANCER_WORKERS", &o.workers, problem) &&
         env_number("WASIMANCER_PLUGIN_SHARE", &o.plugin_share, problem) &&
         env_number("WASIMANCER_NETWORK_THREADS", &o.network_threads, problem) &&
         env_number("WASIMANCER_NATIVE_BUILD_TIMEOUT", &o.native_build_timeout, problem) &&
         env_number("WASIMANCER_NATIVE_BUILD_MEMORY", &o.native_build_memory, problem) &&
         env_number("WASIMANCER_NATIVE_BUILDS", &o.native_builds, problem) &&
         env_number("WASIMANCER_STATE_TTL", &o.state_ttl, problem) &&
         env_number("WASIMANCER_TASK_TTL", &o.task_ttl, problem);
}

// Every non-empty WASM_* variable, as WASImancer passes them to plugins.
std::map<std::string, std::string> wasm_config_from_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos || kv.rfind("WASM_", 0) != 0) continue;
    std::string value = kv.substr(eq + 1);
    if (!value.empty()) out[kv.substr(0, eq)] = value;
  }
  return out;
}

void add_flags(CLI::App& cmd, ServeOptions& o) {
  cmd.add_option("--port", o.port, "Port to listen on (HTTP_PORT, PORT)");
  cmd.add_option("--bind", o.bind, "Address to bind (WASIMANCER_BIND; default all interfaces)");
  cmd.add_option("--plugins-path", o.plugins_path, "Folder with the plugins definition file (PLUGINS_PATH; default ./plugins)");
  cmd.add_option("--plugins-file", o.plugins_file, "Plugins definition file name (PLUGINS_DEFINITION_FILE)");
  cmd.add_option("--upload-path", o.upload_path, "Where uploaded plugins are stored (UPLOAD_PATH; default ./plugins)");
  cmd.add_option("--resources-path", o.resources_path, "Folder with resources.yml (RESOURCES_PATH; default ./resources)");
  cmd.add_option("--resources-file", o.resources_file, "Resources definition file name (RESOURCES_DEFINITION_FILE)");
  cmd.add_option("--prompts-path", o.prompts_path, "Folder with prompts.yml (PROMPTS_PATH; default ./prompts)");
  cmd.add_option("--prompts-file", o.prompts_file, "Prompts definition file name (PROMPTS_DEFINITION_FILE)");
  cmd.add_option("--admin-token", o.admin_token, "Admin API bearer token (WASIMANCER_ADMIN_TOKEN; generated if unset)");
  cmd.add_option("--auth-token", o.auth_token,
                 "MCP bearer token (WASIMANCER_AUTHENTICATION_TOKEN; NO_AUTHENTICATION disables; generated if unset)");
  cmd.add_option("--allowed-host", o.allowed_hosts, "Extra Host header values to accept (WASIMANCER_ALLOWED_HOSTS, comma-separated)");
  cmd.add_option("--allowed-origin", o.allowed_origins, "Extra Origin values to accept (WASIMANCER_ALLOWED_ORIGINS)");
  cmd.add_option("--max-body-bytes", o.max_body_bytes, "Largest MCP request body (WASIMANCER_MAX_BODY_BYTES)");
  cmd.add_option("--max-upload-bytes", o.max_upload_bytes, "Largest plugin upload (WASIMANCER_MAX_UPLOAD_BYTES; default 10 MB)");
  cmd.add_option("--max-header-bytes", o.max_header_bytes, "Largest request header block (WASIMANCER_MAX_HEADER_BYTES)");
  cmd.add_option("--max-connections", o.max_connections, "Open connections at most (WASIMANCER_MAX_CONNECTIONS)");
  cmd.add_option("--max-sessions", o.max_sessions, "MCP sessions at most (WASIMANCER_MAX_SESSIONS)");
  cmd.add_option("--session-idle-timeout", o.session_idle_timeout, "Seconds before an idle session ends (WASIMANCER_SESSION_IDLE_TIMEOUT)");
  cmd.add_option("--state-ttl", o.state_ttl, "Seconds a 2026-07-28 requestState stays valid (WASIMANCER_STATE_TTL)");
  cmd.add_option("--task-ttl", o.task_ttl, "Seconds a finished task is kept (WASIMANCER_TASK_TTL)");
  cmd.add_option("--idle-timeout", o.idle_timeout, "Seconds before an idle connection closes (WASIMANCER_IDLE_TIMEOUT)");
  cmd.add_option("--workers", o.workers, "Threads that run plugins (WASIMANCER_WORKERS; default: one per core, two with sandbox workers)");
  cmd.add_option("--plugin-share", o.plugin_share,
                 "Percent of the workers one plugin's calls may hold at once, at least one worker (WASIMANCER_PLUGIN_SHARE; default 50)")
      ->check(CLI::Range(1u, 100u));
  cmd.add_option("--network-threads", o.network_threads, "Threads that serve HTTP (WASIMANCER_NETWORK_THREADS)");
  cmd.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, off (WASIMANCER_LOG_LEVEL; DEBUG=1 means debug)");
  cmd.add_option("--native", o.native,
                 "Native tier: on (quick then optimised builds), quick (quick builds only), off (WASIMANCER_NATIVE)")
      ->check(CLI::IsMember({"on", "quick", "off"}));
  cmd.add_option("--native-cache", o.native_cache, "Where native builds are cached (WASIMANCER_NATIVE_CACHE)");
  cmd.add_option("--native-build-timeout", o.native_build_timeout, "Seconds one native build may take (WASIMANCER_NATIVE_BUILD_TIMEOUT)");
  cmd.add_option("--native-build-memory", o.native_build_memory,
                 "MiB of address space each native build process may use (WASIMANCER_NATIVE_BUILD_MEMORY)");
  cmd.add_option("--native-builds", o.native_builds, "Native builds at once (WASIMANCER_NATIVE_BUILDS)");
  cmd.add_option("--isolation", o.isolation,
                 "Where plugins run: process (sandboxed worker processes) or none (in the server) (WASIMANCER_ISOLATION)")
      ->check(CLI::IsMember({"process", "none"}));
  cmd.add_flag("--skip-broken", o.skip_broken, "Start even if some plugins, resources or prompts cannot be loaded");
  cmd.add_flag("--stdio", o.stdio, "Serve MCP on stdin/stdout instead of HTTP");
}

int run_serve(ServeOptions o) {
  auto level = parse_log_level(o.log_level);
  if (!level) {
    std::cerr << "error: unknown log level \"" << o.log_level << "\"\n";
    return 2;
  }
  init_logging(*level);
  // Connections and SSE streams are descriptors: the soft limit goes up to the hard one (often
  // 1,024 vs 1,048,576), as servers do. Sandbox workers set their own (sandbox.cpp).
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  registry::PluginPaths paths;
  paths.plugins_dir = o.plugins_path.empty() ? fs::path("plugins") : fs::path(o.plugins_path);
  paths.definition_file = o.plugins_file;
  paths.upload_dir = o.upload_path.empty() ? fs::path("plugins") : fs::path(o.upload_path);
  fs::path resources_file = (o.resources_path.empty() ? fs::path("resources") : fs::path(o.resources_path)) / o.resources_file;
  fs::path prompts_file = (o.prompts_path.empty() ? fs::path("prompts") : fs::path(o.prompts_path)) / o.prompts_file;

  // Default: one thread per core; twice that with sandbox workers, where a thread mostly waits
  // for its worker process to answer (measured in bench/: 7,700 -> 12,000 calls/s on 2 cores).
  const unsigned cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  size_t workers = o.workers ? o.workers : std::max<unsigned>(2, o.isolation == "process" ? 2 * cores : cores);
  WorkerPool pool(workers, WorkerPool::share_of(workers, o.plugin_share));
  registry::NativeTierConfig native_config;
  native_config.enabled = o.native != "off";
  native_config.quick = host::default_native_options();
  if (!o.native_cache.empty()) native_config.quick.cache_dir = o.native_cache;
  native_config.quick.opt_level = "-O0";
  native_config.quick.timeout = std::chrono::seconds(std::max<uint32_t>(1, o.native_build_timeout));
  native_config.quick.memory_limit_bytes = uint64_t(std::max<uint32_t>(64, o.native_build_memory)) << 20;
  native_config.quick.instrument_tool = "/proc/self/exe";  // modules are parsed outside the server
  native_config.optimised = native_config.quick;
  native_config.optimised.opt_level = o.native == "quick" ? "-O0" : "-O2";
  native_config.concurrency = std::max<size_t>(1, o.native_builds);
  if (o.isolation != "process" && o.isolation != "none") {
    log().critical("cannot start: WASIMANCER_ISOLATION must be \"process\" or \"none\", not \"{}\"", o.isolation);
    return 2;
  }
  // Plugins run in sandboxed worker processes unless isolation is off (or a plugin is trusted).
  std::optional<sandbox::Sandbox> sandbox;
  if (o.isolation == "process") sandbox.emplace();
  else log().warn("WASIMANCER_ISOLATION=none: plugins run inside the server process, with its tokens and files in reach");
  registry::NativeTier native(native_config);
  registry::Registry plugins;
  registry::LoadOptions load_opts;
  load_opts.global_config = wasm_config_from_env();
  load_opts.log_level = *level;
  load_opts.max_idle_instances = workers;
  load_opts.native = &native;
  load_opts.watchdog = std::make_shared<engine::Watchdog>();
  load_opts.sandbox = sandbox ? &*sandbox : nullptr;
  registry::PluginManager manager(plugins, paths, load_opts);
  if (auto prov = provenance_from_env(o.max_upload_bytes); !prov) {
    log().critical("cannot start: {}", prov.error().message);
    return 2;
  } else {
    manager.set_provenance(*prov);
  }
  registry::ResourceCatalog resources(resources_file);
  registry::PromptCatalog prompts(prompts_file);

  auto loaded = manager.load(o.skip_broken);
  if (!loaded) {
    log().critical("cannot start: {}", loaded.error().message);
    log().critical("fix the entry, or start with --skip-broken to serve the rest");
    return 1;
  }
  if (auto r = resources.load(o.skip_broken); !r) {
    log().critical("cannot start: {}", r.error().message);
    return 1;
  }
  if (auto r = prompts.load(o.skip_broken); !r) {
    log().critical("cannot start: {}", r.error().message);
    return 1;
  }

  // Generated tokens are printed once the port is bound (not before a failed start).
  std::vector<std::string> token_notes;
  std::optional<std::string> mcp_token;
  if (o.auth_token != "NO_AUTHENTICATION") {
    if (o.auth_token.empty() && !o.stdio) {
      o.auth_token = random_token(24);
      token_notes.push_back(fmt::format("WASIMANCER_AUTHENTICATION_TOKEN is not set; generated MCP token: {}", o.auth_token));
    }
    if (!o.stdio) mcp_token = o.auth_token;
  }
  if (o.admin_token.empty()) {
    o.admin_token = random_token(24);
    if (!o.stdio) token_notes.push_back(fmt::format("WASIMANCER_ADMIN_TOKEN is not set; generated admin token: {}", o.admin_token));
  }

  mcp::ServerConfig mcp_config;
  mcp_config.max_sessions = o.max_sessions;
  mcp_config.session_idle_timeout = std::chrono::seconds(o.session_idle_timeout);
  mcp_config.request_state_key = o.state_key;
  mcp_config.request_state_ttl = std::chrono::seconds(o.state_ttl);
  mcp_config.task_result_ttl = std::chrono::seconds(o.task_ttl);
  mcp::Server server({plugins, resources, prompts}, pool, mcp_config);
  log().info("{} plugin(s), {} tool(s), {} resource(s), {} prompt(s) loaded; {} workers (at most {} per plugin)",
             plugins.snapshot()->plugins().size(), plugins.snapshot()->tools().size(), resources.snapshot()->items.size(),
             prompts.snapshot()->items.size(), workers, pool.max_per_key());

  // Shutdown order: stop taking requests, cancel the calls in flight, let the workers finish
  // (admin changes included) while everything they use still exists.
  auto drain = [&] {
    server.shutdown();
    pool.wait_idle();
  };
  if (o.stdio) {
    int rc = transport::run_stdio(server);
    drain();
    return rc;
  }

  transport::HttpConfig http_config;
  http_config.bind_address = o.bind;
  http_config.port = o.port;
  http_config.network_threads = o.network_threads;
  http_config.max_body_bytes = o.max_body_bytes;
  http_config.max_header_bytes = o.max_header_bytes;
  http_config.max_connections = o.max_connections;
  http_config.idle_timeout = std::chrono::seconds(o.idle_timeout);
  http_config.allowed_hosts = o.allowed_hosts;
  http_config.allowed_origins = o.allowed_origins;
  http_config.mcp_token = mcp_token;
  transport::HttpServer http(server, http_config);

  // The admin API, adapted to the HTTP server's route interface.
  admin::AdminConfig admin_config{o.admin_token, o.max_upload_bytes};
  auto admin_api = std::make_shared<admin::AdminApi>(manager, plugins, resources, prompts, pool, admin_config);
  struct AdminRoutes : transport::RouteHandler {
    std::shared_ptr<admin::AdminApi> api;
    bool matches(const transport::HttpHeader& h) const override { return api->matches(h); }
    std::optional<transport::HttpResponse> check(const transport::HttpHeader& h) const override { return api->check(h); }
    uint64_t body_limit(const transport::HttpHeader& h) const override { return api->body_limit(h); }
    void handle(transport::HttpRequest r, std::function<void(transport::HttpResponse)> done) override {
      api->handle(std::move(r), std::move(done));
    }
  };
  auto routes = std::make_shared<AdminRoutes>();
  routes->api = admin_api;
  http.add_routes(routes);

  // SIGINT/SIGTERM stop the server; block them here so only the waiting thread sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (auto r = http.start(); !r) {
    log().critical("cannot start: {}", r.error().message);
    return 1;
  }
  for (const auto& note : token_notes) log().warn("{}", note);
  log().info("wasimancer listening on http://{}:{} (MCP: /mcp and /sse; admin API: /upload-plugin ...)", o.bind, http.port());
  int sig = 0;
  sigwait(&signals, &sig);
  log().info("signal {} received: shutting down", sig);
  http.stop();
  drain();
  return 0;
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<ServeOptions>();
  auto env_problem = std::make_shared<std::string>();
  bool env_ok = load_env(*opts, env_problem.get());
  CLI::App* cmd = app.add_subcommand("serve", "Run the MCP server (the default command)");
  add_flags(*cmd, *opts);
  cmd->callback([opts, env_ok, env_problem, exit_code] {
    if (!env_ok) {
      std::cerr << "error: " << *env_problem << "\n";
      *exit_code = 2;
      return;
    }
    *exit_code = run_serve(*opts);
  });
  return cmd;
}

}  // namespace wasimancer::cli
