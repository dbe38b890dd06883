#include "cli/serve_command.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <thread>

#include <fmt/format.h>

#include "admin/admin_api.hpp"
#include "cli/dist_settings.hpp"
#include "cli/env.hpp"
#include "cli/signals.hpp"
#include "core/crypto.hpp"
#include "core/health.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/otlp.hpp"
#include "core/worker_pool.hpp"
#include "mcp/auth.hpp"
#include "mcp/server.hpp"
#include "observe/observe_routes.hpp"
#include "registry/catalog.hpp"
#include "registry/native_tier.hpp"
#include "registry/plugin_manager.hpp"
#include "mcp/task_store_pg.hpp"
#include "registry/replica.hpp"
#include "registry/store_pg.hpp"
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
  std::string home;  // WASIMANCER_HOME: relative paths (and the defaults) are taken inside it
  std::string plugins_path, plugins_file = "plugins.yml", upload_path;
  std::string resources_path, resources_file = "resources.yml";
  std::string prompts_path, prompts_file = "prompts.yml";
  std::string admin_token, auth_token;
  std::string oauth_issuer, oauth_resource, oauth_jwks_uri;  // OAuth 2.1 protected resource (mcp/auth.hpp)
  std::vector<std::string> allowed_hosts, allowed_origins;
  uint64_t max_body_bytes = 4ull << 20;
  uint64_t max_upload_bytes = 10ull << 20;
  uint32_t max_header_bytes = 16 * 1024;
  size_t max_connections = 1024;
  size_t max_connections_per_address = 128;
  size_t max_sessions = 1000;
  size_t max_sessions_per_client = 100;
  uint64_t max_output_bytes = 4ull << 20;
  uint64_t max_response_bytes = 16ull << 20;
  uint64_t max_stream_queue_bytes = 16ull << 20;
  uint32_t header_timeout = 5;
  uint32_t write_timeout = 60;
  uint32_t sse_keepalive = 15;
  uint32_t shutdown_timeout = 10;
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
  std::string log_format = "text";       // text | json
  std::string metrics = "on";            // on | off: record metrics (off: for measuring their cost)
  std::string metrics_token;             // another token accepted by GET /metrics
  std::string metrics_bind;              // ADDRESS:PORT of a listener serving /metrics openly
  std::string otlp_endpoint;             // where spans are exported (OTLP/HTTP JSON)
  double otlp_sample_ratio = 1.0;        // share of the traces started here that are exported
  std::string replica_name;              // WASIMANCER_REPLICA_NAME: prefix of session ids (balancer affinity)
  std::string database_url;              // WASIMANCER_DATABASE_URL: the shared PostgreSQL store (empty: files)
  std::string state_key;                 // 2026-07-28 requestState HMAC key (empty: random per process)
  uint32_t state_ttl = 600;              // seconds a requestState stays valid
  uint32_t task_ttl = 3600;              // seconds a finished task is kept
};


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
  if (auto v = env("WASIMANCER_HOME")) o.home = *v;
  if (auto v = env("PLUGINS_PATH")) o.plugins_path = *v;
  if (auto v = env("PLUGINS_DEFINITION_FILE")) o.plugins_file = *v;
  if (auto v = env("UPLOAD_PATH")) o.upload_path = *v;
  if (auto v = env("RESOURCES_PATH")) o.resources_path = *v;
  if (auto v = env("RESOURCES_DEFINITION_FILE")) o.resources_file = *v;
  if (auto v = env("PROMPTS_PATH")) o.prompts_path = *v;
  if (auto v = env("PROMPTS_DEFINITION_FILE")) o.prompts_file = *v;
  if (auto v = env("WASIMANCER_ADMIN_TOKEN")) o.admin_token = *v;
  if (auto v = env("WASIMANCER_AUTHENTICATION_TOKEN")) o.auth_token = *v;
  if (auto v = env("WASIMANCER_OAUTH_ISSUER")) o.oauth_issuer = *v;
  if (auto v = env("WASIMANCER_OAUTH_RESOURCE")) o.oauth_resource = *v;
  if (auto v = env("WASIMANCER_OAUTH_JWKS_URI")) o.oauth_jwks_uri = *v;
  if (auto v = env("WASIMANCER_ALLOWED_HOSTS")) o.allowed_hosts = split_list(*v);
  if (auto v = env("WASIMANCER_ALLOWED_ORIGINS")) o.allowed_origins = split_list(*v);
  if (env("DEBUG")) o.log_level = "debug";
  if (auto v = env("WASIMANCER_LOG_LEVEL")) o.log_level = *v;
  if (auto v = env("WASIMANCER_NATIVE")) o.native = *v;
  if (auto v = env("WASIMANCER_NATIVE_CACHE")) o.native_cache = *v;
  if (auto v = env("WASIMANCER_ISOLATION")) o.isolation = *v;
  if (auto v = env("WASIMANCER_LOG_FORMAT")) o.log_format = *v;
  if (auto v = env("WASIMANCER_METRICS")) o.metrics = *v;
  if (auto v = env("WASIMANCER_METRICS_TOKEN")) o.metrics_token = *v;
  if (auto v = env("WASIMANCER_METRICS_BIND")) o.metrics_bind = *v;
  if (auto v = env("WASIMANCER_OTLP_ENDPOINT")) o.otlp_endpoint = *v;
  if (auto v = env("WASIMANCER_OTLP_SAMPLE_RATIO")) {
    char* end = nullptr;
    double r = std::strtod(v->c_str(), &end);
    o.otlp_sample_ratio = (end && *end == 0 && !v->empty()) ? r : -1;  // checked in run_serve
  }
  if (auto v = env("WASIMANCER_STATE_KEY")) o.state_key = *v;
  if (auto v = env("WASIMANCER_DATABASE_URL")) o.database_url = *v;
  if (auto v = env("WASIMANCER_REPLICA_NAME")) o.replica_name = *v;
  return env_number("WASIMANCER_MAX_BODY_BYTES", &o.max_body_bytes, problem) &&
         env_number("WASIMANCER_MAX_UPLOAD_BYTES", &o.max_upload_bytes, problem) &&
         env_number("WASIMANCER_MAX_HEADER_BYTES", &o.max_header_bytes, problem) &&
         env_number("WASIMANCER_MAX_CONNECTIONS", &o.max_connections, problem) &&
         env_number("WASIMANCER_MAX_SESSIONS", &o.max_sessions, problem) &&
         env_number("WASIMANCER_MAX_CONNECTIONS_PER_ADDRESS", &o.max_connections_per_address, problem) &&
         env_number("WASIMANCER_MAX_SESSIONS_PER_CLIENT", &o.max_sessions_per_client, problem) &&
         env_number("WASIMANCER_MAX_OUTPUT_BYTES", &o.max_output_bytes, problem) &&
         env_number("WASIMANCER_MAX_RESPONSE_BYTES", &o.max_response_bytes, problem) &&
         env_number("WASIMANCER_MAX_STREAM_QUEUE_BYTES", &o.max_stream_queue_bytes, problem) &&
         env_number("WASIMANCER_HEADER_TIMEOUT", &o.header_timeout, problem) &&
         env_number("WASIMANCER_WRITE_TIMEOUT", &o.write_timeout, problem) &&
         env_number("WASIMANCER_SSE_KEEPALIVE", &o.sse_keepalive, problem) &&
         env_number("WASIMANCER_SHUTDOWN_TIMEOUT", &o.shutdown_timeout, problem) &&
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
  cmd.add_option("--home", o.home,
                 "Folder holding plugins/, resources/ and prompts/ (WASIMANCER_HOME); relative paths are taken inside it "
                 "instead of the working directory");
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
  cmd.add_option("--oauth-issuer", o.oauth_issuer,
                 "Accept OAuth access tokens (JWT) from this authorization server, beside the static tokens (WASIMANCER_OAUTH_ISSUER)");
  cmd.add_option("--oauth-resource", o.oauth_resource,
                 "This server's canonical URL, the audience tokens must name (WASIMANCER_OAUTH_RESOURCE; default http://<Host>/mcp)");
  cmd.add_option("--oauth-jwks-uri", o.oauth_jwks_uri,
                 "Where the issuer's signing keys are (WASIMANCER_OAUTH_JWKS_URI; default: from the issuer's metadata)");
  cmd.add_option("--allowed-host", o.allowed_hosts, "Extra Host header values to accept (WASIMANCER_ALLOWED_HOSTS, comma-separated)");
  cmd.add_option("--allowed-origin", o.allowed_origins, "Extra Origin values to accept (WASIMANCER_ALLOWED_ORIGINS)");
  cmd.add_option("--max-body-bytes", o.max_body_bytes, "Largest MCP request body (WASIMANCER_MAX_BODY_BYTES)");
  cmd.add_option("--max-upload-bytes", o.max_upload_bytes, "Largest plugin upload (WASIMANCER_MAX_UPLOAD_BYTES; default 10 MB)");
  cmd.add_option("--max-header-bytes", o.max_header_bytes, "Largest request header block (WASIMANCER_MAX_HEADER_BYTES)");
  cmd.add_option("--max-connections", o.max_connections, "Open connections at most (WASIMANCER_MAX_CONNECTIONS)");
  cmd.add_option("--max-sessions", o.max_sessions, "MCP sessions at most (WASIMANCER_MAX_SESSIONS)");
  cmd.add_option("--max-sessions-per-client", o.max_sessions_per_client,
                 "MCP sessions per client address; 0: no limit (WASIMANCER_MAX_SESSIONS_PER_CLIENT)");
  cmd.add_option("--max-connections-per-address", o.max_connections_per_address,
                 "Open connections per client address; 0: no limit (WASIMANCER_MAX_CONNECTIONS_PER_ADDRESS)");
  cmd.add_option("--max-output-bytes", o.max_output_bytes, "Largest output of one tool call (WASIMANCER_MAX_OUTPUT_BYTES)");
  cmd.add_option("--max-response-bytes", o.max_response_bytes,
                 "Largest answer to one POST, a batch's answers together (WASIMANCER_MAX_RESPONSE_BYTES)");
  cmd.add_option("--max-stream-queue-bytes", o.max_stream_queue_bytes,
                 "Bytes queued for an SSE client that is not reading before it is disconnected (WASIMANCER_MAX_STREAM_QUEUE_BYTES)");
  cmd.add_option("--header-timeout", o.header_timeout,
                 "Seconds a connection has to send a request header before it authenticates (WASIMANCER_HEADER_TIMEOUT)");
  cmd.add_option("--write-timeout", o.write_timeout,
                 "Seconds a client has to take the bytes waiting for it (WASIMANCER_WRITE_TIMEOUT)");
  cmd.add_option("--sse-keepalive", o.sse_keepalive,
                 "Seconds between the comment lines sent on an idle SSE stream, for proxies that close quiet connections (WASIMANCER_SSE_KEEPALIVE)");
  cmd.add_option("--shutdown-timeout", o.shutdown_timeout,
                 "Seconds calls in flight may take to finish on SIGTERM/SIGINT (WASIMANCER_SHUTDOWN_TIMEOUT)");
  cmd.add_option("--session-idle-timeout", o.session_idle_timeout, "Seconds before an idle session ends (WASIMANCER_SESSION_IDLE_TIMEOUT)");
  cmd.add_option("--state-ttl", o.state_ttl, "Seconds a 2026-07-28 requestState stays valid (WASIMANCER_STATE_TTL)");
  cmd.add_option("--task-ttl", o.task_ttl, "Seconds a finished task is kept (WASIMANCER_TASK_TTL)");
  cmd.add_option("--idle-timeout", o.idle_timeout, "Seconds before an idle connection closes (WASIMANCER_IDLE_TIMEOUT)");
  cmd.add_option("--workers", o.workers, "Threads that run plugins (WASIMANCER_WORKERS; default: one per core, two with sandbox workers)");
  cmd.add_option("--plugin-share", o.plugin_share,
                 "Percent of the workers one plugin's calls may hold at once while other plugins' calls wait, at least one worker; in-process "
                 "plugins may use free workers beyond it (WASIMANCER_PLUGIN_SHARE; default 50)")
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
  cmd.add_option("--log-format", o.log_format, "Log lines as text or json (WASIMANCER_LOG_FORMAT)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd.add_option("--metrics", o.metrics, "Record metrics: on or off (WASIMANCER_METRICS)")->check(CLI::IsMember({"on", "off"}));
  cmd.add_option("--metrics-token", o.metrics_token, "A token that may read /metrics besides the admin token (WASIMANCER_METRICS_TOKEN)");
  cmd.add_option("--metrics-bind", o.metrics_bind,
                 "ADDRESS:PORT of a second listener serving /metrics, /healthz and /readyz without a token (WASIMANCER_METRICS_BIND)");
  cmd.add_option("--otlp-endpoint", o.otlp_endpoint,
                 "Export spans with OTLP/HTTP JSON to this collector, e.g. http://127.0.0.1:4318 (WASIMANCER_OTLP_ENDPOINT)");
  cmd.add_option("--otlp-sample-ratio", o.otlp_sample_ratio,
                 "Share of the traces started here that are exported, 0 to 1 (a caller's traceparent keeps its own decision) "
                 "(WASIMANCER_OTLP_SAMPLE_RATIO)");
  cmd.add_option("--database-url", o.database_url,
                 "PostgreSQL URL of the registry shared by several replicas (WASIMANCER_DATABASE_URL; default: local files)");
  cmd.add_option("--replica-name", o.replica_name,
                 "This replica's name, prefixed to MCP session ids so a balancer can route sessions (WASIMANCER_REPLICA_NAME; "
                 "letters, digits, '_', '-', at most 32)");
  cmd.add_flag("--skip-broken", o.skip_broken, "Start even if some plugins, resources or prompts cannot be loaded");
  cmd.add_flag("--stdio", o.stdio, "Serve MCP on stdin/stdout instead of HTTP");
}

// Whether a bind address takes connections from other machines (all interfaces, or an address
// that is not loopback).
bool listens_beyond_loopback(const std::string& bind) {
  if (bind == "localhost" || bind == "::1" || bind == "[::1]") return false;
  return bind.rfind("127.", 0) != 0;
}

int run_serve(ServeOptions o) {
  // Payloads of a MiB or more (a call's input and output, copied a few times on their way) come
  // from the heap instead of fresh mmaps, and freed heap is kept up to 32 MiB: glibc's defaults
  // (mmap above 128 KiB, dynamically raised; trim above 128 KiB) made every such copy fault its
  // pages in again, which doubled the server's CPU time for a 1 MiB call (issue 11). This tunes
  // glibc's malloc, in a build without jemalloc (which keeps freed pages for reuse on its own).
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  auto level = parse_log_level(o.log_level);
  if (!level) {
    std::cerr << "error: unknown log level \"" << o.log_level << "\"\n";
    return 2;
  }
  auto log_format = parse_log_format(o.log_format);
  if (!log_format) {
    std::cerr << "error: unknown log format \"" << o.log_format << "\" (text or json)\n";
    return 2;
  }
  init_logging(*level, *log_format);
  if (o.metrics != "on" && o.metrics != "off") {
    std::cerr << "error: WASIMANCER_METRICS must be on or off, not \"" << o.metrics << "\"\n";
    return 2;
  }
  metrics::set_enabled(o.metrics == "on");
  // Spans go to an OTLP collector when one is named; until the exporter is set, nothing is recorded.
  if (!(o.otlp_sample_ratio >= 0 && o.otlp_sample_ratio <= 1)) {
    std::cerr << "error: WASIMANCER_OTLP_SAMPLE_RATIO must be a number from 0 to 1\n";
    return 2;
  }
  trace::set_sample_ratio(o.otlp_sample_ratio);
  std::shared_ptr<trace::OtlpExporter> otlp;
  if (!o.otlp_endpoint.empty()) {
    trace::OtlpConfig oc;
    oc.endpoint = o.otlp_endpoint;
    otlp = std::make_shared<trace::OtlpExporter>(oc);
    trace::set_exporter(otlp);
    log().info("exporting spans to {} (OTLP/HTTP JSON)", otlp->url());
  }
  struct StopExport {
    std::shared_ptr<trace::OtlpExporter>& e;
    ~StopExport() {
      if (!e) return;
      trace::set_exporter(nullptr);
      e->flush();
    }
  } stop_export{otlp};
  health::Readiness readiness;
  std::atomic<bool> plugins_loaded{false};
  readiness.add("plugins", [&plugins_loaded]() -> std::optional<std::string> {
    if (plugins_loaded.load()) return std::nullopt;
    return std::string("the plugins are still loading");
  });
  // A shared registry (a database) adds its own check below ("database").
  // stdio: SIGINT/SIGTERM end the process, as a launcher expects. HTTP: the main thread waits for
  // them once it listens, then shuts down in order.
  if (o.stdio) die_on_stop_signal();
  // Connections and SSE streams are descriptors: the soft limit goes up to the hard one (often
  // 1,024 vs 1,048,576), as servers do. Sandbox workers set their own (sandbox.cpp).
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  // With a home, relative paths (the defaults included) are inside it, so the server finds its
  // files whatever the working directory (a desktop client launching `serve --stdio`).
  fs::path home;
  if (!o.home.empty()) {
    std::error_code ec;
    home = fs::absolute(fs::path(o.home), ec).lexically_normal();
    if (!fs::is_directory(home, ec)) log().warn("WASIMANCER_HOME (--home) {} is not a folder", home.string());
  }
  auto place = [&](const std::string& value, const char* fallback) {
    fs::path p = value.empty() ? fs::path(fallback) : fs::path(value);
    return home.empty() || p.is_absolute() ? p : home / p;
  };
  registry::PluginPaths paths;
  paths.plugins_dir = place(o.plugins_path, "plugins");
  paths.definition_file = o.plugins_file;
  paths.upload_dir = place(o.upload_path, "plugins");
  fs::path resources_file = place(o.resources_path, "resources") / o.resources_file;
  fs::path prompts_file = place(o.prompts_path, "prompts") / o.prompts_file;
  if (std::error_code ec; !fs::exists(paths.definition_path(), ec)) {
    log().warn("no plugins file at {}: serving no plugins until the first upload creates it{}",
               fs::absolute(paths.definition_path(), ec).string(),
               home.empty() ? " (relative paths are taken from the working directory; set WASIMANCER_HOME or --home, or an "
                              "absolute PLUGINS_PATH)"
                            : "");
  }

  // Default: one thread per core; twice that with sandbox workers, where a thread mostly waits
  // for its worker process to answer (measured in bench/: 7,700 -> 12,000 calls/s on 2 cores).
  const unsigned cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  size_t workers = o.workers ? o.workers : std::max<unsigned>(2, o.isolation == "process" ? 2 * cores : cores);
  // In-process plugins borrow workers beyond their share while no other plugin's call waits (a
  // concurrent call costs no process there; one plugin hammered alone on 2 cores: +2% to +13%
  // calls/s in four twin-server runs). Sandboxed ones keep to their share: each borrowed worker
  // would be one more worker process kept warm.
  WorkerPool pool(workers, WorkerPool::share_of(workers, o.plugin_share), o.isolation != "process");
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
  // Where the registry lives: local files (the default), or a PostgreSQL database shared by
  // several replicas (registry/store.hpp).
  std::unique_ptr<registry::PgStore> database;
  if (!o.database_url.empty()) {
    auto db = registry::PgStore::open(o.database_url);
    if (!db) {
      log().critical("cannot start: {}", db.error().message);
      return 1;
    }
    database = std::move(*db);
    log().info("registry: PostgreSQL (schema version {}); plugins, resources and prompts are shared with the other replicas",
               registry::PgStore::schema_version());
  }
  using registry::Collection;
  registry::PluginManager manager(plugins, paths, load_opts, database ? database->document(Collection::Plugins) : nullptr);
  if (auto prov = provenance_from_env(o.max_upload_bytes); !prov) {
    log().critical("cannot start: {}", prov.error().message);
    return 2;
  } else {
    manager.set_provenance(*prov);
  }
  registry::ResourceCatalog resources(database ? database->document(Collection::Resources)
                                               : std::make_unique<registry::YamlFileStore>(resources_file));
  registry::PromptCatalog prompts(database ? database->document(Collection::Prompts)
                                           : std::make_unique<registry::YamlFileStore>(prompts_file));
  std::optional<registry::Replica> replica;
  // The store's watcher calls into the manager and catalogs: it stops before they go.
  struct StopWatching {
    registry::PgStore* db;
    ~StopWatching() {
      if (db) db->stop_watching();
    }
  } stop_watching{database.get()};

  // The replica's figures on /metrics and its readiness check go before the replica does.
  struct ReplicaObserved {
    health::Readiness& readiness;
    std::vector<uint64_t> collectors;
    ~ReplicaObserved() {
      for (auto t : collectors) metrics::registry().remove_collector(t);
      readiness.remove("database");
      readiness.remove_fact("revision");
    }
  } replica_observed{readiness, {}};
  if (database) {
    replica.emplace(*database, manager, resources, prompts);
    if (auto r = replica->start(); !r) {
      log().critical("cannot start: {}", r.error().message);
      return 1;
    }
    const registry::Replica* rp = &*replica;
    auto& reg = metrics::registry();
    auto one = [](double v) { return std::vector<metrics::Sample>{{{}, v}}; };
    replica_observed.collectors = {
        reg.add_collector("wasimancer_database_revision_served", "The database revision this replica serves", "gauge", {},
                          [rp, one] { return one(static_cast<double>(rp->served_revision())); }),
        reg.add_collector("wasimancer_database_revision_latest", "The newest database revision this replica has heard of", "gauge", {},
                          [rp, one] { return one(static_cast<double>(rp->latest_revision())); }),
        reg.add_collector("wasimancer_database_reconcile_lag_seconds",
                          "How long this replica has known of a newer revision than the one it serves (0: up to date)", "gauge", {},
                          [rp, one] { return one(rp->lag_seconds()); }),
        reg.add_collector("wasimancer_database_up", "Whether the database is reachable (1) or not (0)", "gauge", {},
                          [rp, one] { return one(rp->database_connected() ? 1 : 0); }),
    };
    // Ready only with the database reachable (a balancer then sends traffic to replicas that can
    // take admin changes; in an outage every replica still serves what it has to whoever calls).
    readiness.add_fact("revision", [rp] { return rp->served_revision(); });
    readiness.add("database", [rp]() -> std::optional<std::string> {
      if (rp->database_connected()) return std::nullopt;
      return fmt::format("the database cannot be reached (serving revision {})", rp->served_revision());
    });
  } else {
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
  }
  plugins_loaded = true;

  // Generated tokens are printed once the port is bound (not before a failed start).
  std::vector<std::string> token_notes;
  std::optional<std::string> mcp_token;
  if (o.auth_token == "NO_AUTHENTICATION" && !o.stdio && listens_beyond_loopback(o.bind)) {
    log().warn("NO_AUTHENTICATION with --bind {}: anyone who can reach this machine on port {} can call every tool; "
               "bind 127.0.0.1 (WASIMANCER_BIND) or set a token", o.bind, o.port);
  }
  if (o.auth_token != "NO_AUTHENTICATION") {
    if (o.auth_token.empty() && !o.stdio) {
      o.auth_token = random_token(24);
      token_notes.push_back(fmt::format("WASIMANCER_AUTHENTICATION_TOKEN is not set; generated MCP token: {}", o.auth_token));
    }
    if (!o.stdio) mcp_token = o.auth_token;
  }
  std::shared_ptr<mcp::OAuthResource> oauth;
  if (!o.oauth_issuer.empty() && !o.stdio) {
    if (o.auth_token == "NO_AUTHENTICATION") {
      log().critical("WASIMANCER_OAUTH_ISSUER and NO_AUTHENTICATION contradict each other: unset one");
      return 2;
    }
    mcp::OAuthSettings oauth_settings;
    oauth_settings.issuer = o.oauth_issuer;
    oauth_settings.resource = o.oauth_resource;
    oauth_settings.jwks_uri = o.oauth_jwks_uri;
    if (auto r = mcp::validate_oauth_settings(oauth_settings); !r) {
      log().critical("{}", r.error().message);
      return 2;
    }
    oauth = std::make_shared<mcp::OAuthResource>(std::move(oauth_settings));
    log().info("OAuth: access tokens from {} accepted (scopes mcp:tools, mcp:admin; audience {})", o.oauth_issuer,
               o.oauth_resource.empty() ? std::string("http://<Host>/mcp") : o.oauth_resource);
  }
  if (o.admin_token.empty()) {
    o.admin_token = random_token(24);
    if (!o.stdio) token_notes.push_back(fmt::format("WASIMANCER_ADMIN_TOKEN is not set; generated admin token: {}", o.admin_token));
  }

  mcp::ServerConfig mcp_config;
  mcp_config.max_sessions = o.max_sessions;
  mcp_config.max_sessions_per_client = o.max_sessions_per_client;
  mcp_config.max_output_bytes = o.max_output_bytes;
  mcp_config.session_idle_timeout = std::chrono::seconds(o.session_idle_timeout);
  mcp_config.request_state_key = o.state_key;
  mcp_config.request_state_ttl = std::chrono::seconds(o.state_ttl);
  mcp_config.task_result_ttl = std::chrono::seconds(o.task_ttl);
  if (!o.replica_name.empty()) {
    bool plain = o.replica_name.size() <= 32 && std::all_of(o.replica_name.begin(), o.replica_name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    if (!plain) {
      log().critical("cannot start: WASIMANCER_REPLICA_NAME must be letters, digits, '_' or '-' (at most 32)");
      return 2;
    }
    mcp_config.session_id_prefix = o.replica_name + ".";
  }
  if (database) {
    mcp_config.task_store = [db = database.get()] { return std::make_unique<mcp::PgTaskStore>(*db); };
  }
  mcp::Server server({plugins, resources, prompts}, pool, mcp_config);
  log().info("{} plugin(s), {} tool(s), {} resource(s), {} prompt(s) loaded; {} workers (at most {} per plugin)",
             plugins.snapshot()->plugins().size(), plugins.snapshot()->tools().size(), resources.snapshot()->items.size(),
             prompts.snapshot()->items.size(), workers, pool.max_per_key());

  // Shutdown order: stop taking requests, cancel the calls in flight, let the workers finish
  // (admin changes included) while everything they use still exists.
  auto drain = [&] {
    if (database) database->stop_watching();
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
  http_config.max_connections_per_address = o.max_connections_per_address;
  http_config.max_response_bytes = o.max_response_bytes;
  http_config.max_stream_queue_bytes = o.max_stream_queue_bytes;
  http_config.header_timeout = std::chrono::seconds(std::max<uint32_t>(1, o.header_timeout));
  http_config.write_timeout = std::chrono::seconds(std::max<uint32_t>(1, o.write_timeout));
  http_config.sse_keepalive = std::chrono::seconds(std::max<uint32_t>(1, o.sse_keepalive));
  http_config.idle_timeout = std::chrono::seconds(o.idle_timeout);
  http_config.allowed_hosts = o.allowed_hosts;
  http_config.allowed_origins = o.allowed_origins;
  http_config.mcp_token = mcp_token;
  http_config.oauth = oauth;
  transport::HttpServer http(server, http_config);

  // The admin API, adapted to the HTTP server's route interface.
  admin::AdminConfig admin_config;
  admin_config.token = o.admin_token;
  admin_config.max_upload_bytes = o.max_upload_bytes;
  admin_config.oauth = oauth;
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

  // /metrics, /healthz, /readyz and the dashboard (/ui), adapted the same way.
  struct ObserveAdapter : transport::RouteHandler {
    std::shared_ptr<observe::ObserveRoutes> routes;
    bool matches(const transport::HttpHeader& h) const override { return routes->matches(h); }
    std::optional<transport::HttpResponse> check(const transport::HttpHeader& h) const override { return routes->check(h); }
    uint64_t body_limit(const transport::HttpHeader& h) const override { return routes->body_limit(h); }
    void handle(transport::HttpRequest r, std::function<void(transport::HttpResponse)> done) override {
      routes->handle(std::move(r), std::move(done));
    }
    StreamStart stream(const transport::HttpRequest& r) override { return routes->stream(r); }
  };
  observe::ObserveConfig observe_config{o.admin_token, std::nullopt, false, false};
  if (!o.metrics_token.empty()) observe_config.metrics_token = o.metrics_token;
  observe_config.trace_export = otlp != nullptr;
  auto observe_routes = std::make_shared<ObserveAdapter>();
  observe_routes->routes =
      std::make_shared<observe::ObserveRoutes>(plugins, resources, prompts, server, pool, readiness, observe_config);
  http.add_routes(observe_routes);

  // --metrics-bind: a second listener with /metrics (no token), /healthz and /readyz only.
  std::optional<transport::HttpServer> metrics_http;
  if (!o.metrics_bind.empty()) {
    auto colon = o.metrics_bind.rfind(':');
    transport::HttpConfig mc = http_config;
    mc.serve_mcp = false;
    mc.network_threads = 1;
    mc.bind_address = colon == std::string::npos ? o.metrics_bind : o.metrics_bind.substr(0, colon);
    if (mc.bind_address.size() > 2 && mc.bind_address.front() == '[') mc.bind_address = mc.bind_address.substr(1, mc.bind_address.size() - 2);
    try {
      mc.port = colon == std::string::npos ? 9464 : static_cast<uint16_t>(std::stoul(o.metrics_bind.substr(colon + 1)));
    } catch (...) {
      log().critical("cannot start: --metrics-bind must be ADDRESS:PORT, not \"{}\"", o.metrics_bind);
      return 2;
    }
    auto metrics_routes = std::make_shared<ObserveAdapter>();
    metrics_routes->routes = std::make_shared<observe::ObserveRoutes>(plugins, resources, prompts, server, pool, readiness,
                                                                      observe::ObserveConfig{o.admin_token, std::nullopt, true, true});
    metrics_http.emplace(server, mc);
    metrics_http->add_routes(metrics_routes);
  }

  if (auto r = http.start(); !r) {
    if (database) database->stop_watching();
    log().critical("cannot start: {}", r.error().message);
    return 1;
  }
  for (const auto& note : token_notes) log().warn("{}", note);
  if (metrics_http) {
    if (auto r = metrics_http->start(); !r) {
      log().critical("cannot start the metrics listener: {}", r.error().message);
      http.stop();
      return 1;
    }
    log().info("metrics served on http://{}:{}/metrics", o.metrics_bind.substr(0, o.metrics_bind.rfind(':')), metrics_http->port());
  }
  log().info("wasimancer listening on http://{}:{} (MCP: /mcp and /sse; admin API: /upload-plugin ...; dashboard: /ui)", o.bind, http.port());
  // SIGINT/SIGTERM (blocked in every thread since main(): cli/signals.hpp) stop the server.
  int sig = wait_stop_signal();
  log().info("signal {} received: shutting down (calls in flight have {} s to finish)", sig, o.shutdown_timeout);
  if (metrics_http) metrics_http->stop();
  http.shutdown(std::chrono::seconds(o.shutdown_timeout));
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
