// host/imports.cpp: every host function a plugin may import.
//   extism:host/env        the Extism ABI (kernel memory, config, vars, HTTP, logs)
//   wasi_snapshot_preview1 the WASI subset (see docs/host-abi.md); the rest answers ENOSYS
//   wasimancer:host/mcp    our own: progress, client logs, sampling, elicitation
#include <time.h>

#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "host/guest_memory.hpp"
#include "host/http_client.hpp"
#include "host/state.hpp"

namespace wasimancer::host {

namespace {

using engine::Caller;
using engine::FuncType;
using engine::HostFunc;
using engine::HostResult;
using engine::Slot;
using engine::Trap;
using engine::ValType;
using Args = std::span<const Slot>;
using Results = std::span<Slot>;

constexpr ValType I32 = ValType::I32;
constexpr ValType I64 = ValType::I64;

InstanceState& state(Caller& c) { return *static_cast<InstanceState*>(c.user_data()); }

Trap host_trap(std::string message) { return Trap{ErrorKind::HostError, std::move(message), std::nullopt}; }

// The active block `off` (0 is the empty string when `zero_is_empty`), or explains why not.
// The view points into kernel memory: use it before the next kernel allocation (which may move
// the arena or reuse the block once it is freed).
std::optional<std::string_view> read_handle(InstanceState& s, uint64_t off, std::string_view what, bool zero_is_empty,
                                            Trap* err) {
  if (off == 0 && zero_is_empty) return std::string_view();
  auto b = s.kernel.block(off);
  if (!b) *err = host_trap(fmt::format("invalid handle offset for {}: {}", what, off));
  return b;
}

// ---- extism:host/env ---------------------------------------------------------------------------

HostResult k_alloc(Caller& c, Args a, Results r) { r[0] = state(c).kernel.alloc(a[0]); return {}; }
HostResult k_free(Caller& c, Args a, Results) { state(c).kernel.free(a[0]); return {}; }
HostResult k_length(Caller& c, Args a, Results r) { r[0] = state(c).kernel.length(a[0]); return {}; }
HostResult k_load_u8(Caller& c, Args a, Results r) { r[0] = state(c).kernel.load_u8(a[0]); return {}; }
HostResult k_load_u64(Caller& c, Args a, Results r) { r[0] = state(c).kernel.load_u64(a[0]); return {}; }
HostResult k_store_u8(Caller& c, Args a, Results) { state(c).kernel.store_u8(a[0], static_cast<uint8_t>(a[1])); return {}; }
HostResult k_store_u64(Caller& c, Args a, Results) { state(c).kernel.store_u64(a[0], a[1]); return {}; }
HostResult k_input_offset(Caller& c, Args, Results r) { r[0] = state(c).kernel.input_offset(); return {}; }
HostResult k_input_length(Caller& c, Args, Results r) { r[0] = state(c).kernel.input_length(); return {}; }
HostResult k_input_load_u8(Caller& c, Args a, Results r) { r[0] = state(c).kernel.input_load_u8(a[0]); return {}; }
HostResult k_input_load_u64(Caller& c, Args a, Results r) { r[0] = state(c).kernel.input_load_u64(a[0]); return {}; }
HostResult k_output_set(Caller& c, Args a, Results) { state(c).kernel.output_set(a[0], a[1]); return {}; }
HostResult k_error_set(Caller& c, Args a, Results) { state(c).kernel.error_set(a[0]); return {}; }
HostResult k_error_get(Caller& c, Args, Results r) { r[0] = state(c).kernel.error_get(); return {}; }
HostResult k_input_set(Caller& c, Args a, Results) { state(c).kernel.input_set(a[0], a[1]); return {}; }
HostResult k_output_offset(Caller& c, Args, Results r) { r[0] = state(c).kernel.output_offset(); return {}; }
HostResult k_output_length(Caller& c, Args, Results r) { r[0] = state(c).kernel.output_length(); return {}; }
HostResult k_reset(Caller& c, Args, Results) { state(c).kernel.reset(); return {}; }
HostResult k_memory_bytes(Caller& c, Args, Results r) { r[0] = state(c).kernel.memory_bytes(); return {}; }

HostResult config_get(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  Trap err;
  auto key = read_handle(s, a[0], "config key", true, &err);
  if (!key) return err;
  s.kernel.free(a[0]);
  const auto& cfg = s.plugin->options().config;
  auto it = cfg.find(std::string(*key));
  r[0] = (it == cfg.end() || it->second.empty()) ? 0 : s.kernel.alloc_bytes(it->second);
  return {};
}

HostResult var_get(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  Trap err;
  auto key = read_handle(s, a[0], "var key", true, &err);
  if (!key) return err;
  s.kernel.free(a[0]);
  auto v = s.services->var_get(*key);
  r[0] = (!v || v->empty()) ? 0 : s.kernel.alloc_bytes(*v);
  return {};
}

HostResult var_set(Caller& c, Args a, Results) {
  InstanceState& s = state(c);
  if (s.plugin->options().limits.max_var_bytes == 0) return host_trap("Vars are disabled by this host");
  Trap err;
  auto key = read_handle(s, a[0], "var key", true, &err);
  if (!key) return err;
  std::optional<std::string_view> value;
  if (a[1] != 0) {
    value = read_handle(s, a[1], "var value", false, &err);
    if (!value) return err;
  }
  s.kernel.free(a[0]);
  if (a[1] != 0) s.kernel.free(a[1]);
  auto res = s.services->var_set(*key, value);
  if (!res) return host_trap(res.error().message);
  return {};
}

// Counts `n` bytes of log output against the call's budget.
HostResult charge_log(InstanceState& s, size_t n) {
  s.log_bytes += n;
  uint64_t max = s.plugin->options().limits.max_log_bytes;
  if (s.log_bytes > max) {
    return host_trap(fmt::format("log limit exceeded: the plugin wrote more than {} bytes of logs and output in one call", max));
  }
  return {};
}

HostResult log_at(Caller& c, Args a, LogLevel level) {
  InstanceState& s = state(c);
  Trap err;
  auto msg = read_handle(s, a[0], "log message", true, &err);
  if (!msg) return err;
  s.kernel.free(a[0]);
  const PluginOptions& opts = s.plugin->options();
  if (level < opts.log_level) return {};
  if (auto e = charge_log(s, msg->size())) return e;
  s.sink->plugin_log(opts, level, *msg);
  return {};
}

HostResult log_trace(Caller& c, Args a, Results) { return log_at(c, a, LogLevel::Trace); }
HostResult log_debug(Caller& c, Args a, Results) { return log_at(c, a, LogLevel::Debug); }
HostResult log_info(Caller& c, Args a, Results) { return log_at(c, a, LogLevel::Info); }
HostResult log_warn(Caller& c, Args a, Results) { return log_at(c, a, LogLevel::Warn); }
HostResult log_error(Caller& c, Args a, Results) { return log_at(c, a, LogLevel::Error); }

HostResult get_log_level(Caller& c, Args, Results r) {
  LogLevel l = state(c).plugin->options().log_level;
  r[0] = static_cast<uint32_t>(l == LogLevel::Off ? INT_MAX : static_cast<int>(l));
  return {};
}

HostResult http_request(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  Trap err;
  auto req_text = read_handle(s, a[0], "HTTP request", false, &err);
  if (!req_text) return err;
  HttpRequest req;
  if (a[1] != 0) {
    auto body = read_handle(s, a[1], "HTTP request body", false, &err);
    if (!body) return err;
    req.body = std::string(*body);
    req.has_body = true;
  }
  s.kernel.free(a[0]);
  if (a[1] != 0) s.kernel.free(a[1]);

  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*req_text, ec);
  if (ec || !v.is_object()) return host_trap(fmt::format("invalid HTTP request JSON: {}", ec ? ec.message() : "not an object"));
  const auto& o = v.as_object();
  auto url = o.if_contains("url");
  if (!url || !url->is_string()) return host_trap("invalid HTTP request JSON: missing field `url`");
  req.url = std::string(url->as_string());
  if (auto m = o.if_contains("method"); m && m->is_string()) req.method = std::string(m->as_string());
  else if (m && !m->is_null()) return host_trap("invalid HTTP request JSON: `method` must be a string or null");
  if (auto h = o.if_contains("headers"); h && h->is_object()) {
    for (const auto& [k, val] : h->as_object()) {
      if (!val.is_string()) return host_trap(fmt::format("invalid HTTP request JSON: header `{}` must be a string", std::string(k)));
      req.headers.emplace_back(std::string(k), std::string(val.as_string()));
    }
  } else if (h && !h->is_null()) {
    return host_trap("invalid HTTP request JSON: `headers` must be an object or null");
  }
  // GET and HEAD carry no body (as Extism's hosts do); http_fetch reads methods in any case.
  if (std::string m = ascii_lower(req.method); m.empty() || m == "get" || m == "head") req.has_body = false;

  auto resp = traced_http(*s.services, std::move(req), s.control->deadline, s.control->cancel, s.trace);
  if (!resp) {
    Error e = resp.take_error();
    return Trap{e.kind, std::move(e.message), std::nullopt};
  }
  s.http_status = resp->status;
  s.http_headers = std::move(resp->headers);
  if (resp->body.empty()) {
    r[0] = 0;
    return {};
  }
  uint64_t off = s.kernel.alloc_bytes(resp->body);
  if (off == 0) {
    return Trap{ErrorKind::OutOfMemory,
                fmt::format("oom: the HTTP response ({} bytes) does not fit in the plugin's kernel memory", resp->body.size()),
                std::nullopt};
  }
  r[0] = off;
  return {};
}

HostResult http_status_code(Caller& c, Args, Results r) { r[0] = static_cast<uint32_t>(state(c).http_status); return {}; }

HostResult http_headers(Caller& c, Args, Results r) {
  InstanceState& s = state(c);
  if (!s.plugin->options().http_response_headers) {
    r[0] = 0;
    return {};
  }
  boost::json::object o;
  for (const auto& [k, v] : s.http_headers) o[k] = v;
  r[0] = s.kernel.alloc_bytes(boost::json::serialize(o));
  return {};
}

// ---- wasi_snapshot_preview1 -------------------------------------------------------------------

using namespace guest;  // in_guest, get_u32, put_u32, put_u64 (host/guest_memory.hpp)

HostResult wasi_fd_write(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  auto mem = c.memory();
  uint32_t fd = static_cast<uint32_t>(a[0]), iovs = static_cast<uint32_t>(a[1]), n = static_cast<uint32_t>(a[2]),
           nwritten = static_cast<uint32_t>(a[3]);
  if (s.fs && s.fs->owns(fd)) { r[0] = s.fs->write(mem, fd, iovs, n, -1, nwritten); return {}; }
  if (!in_guest(mem, iovs, uint64_t(n) * 8) || !in_guest(mem, nwritten, 4)) { r[0] = kWasiFault; return {}; }
  if (fd != 1 && fd != 2) { r[0] = kWasiBadf; return {}; }
  if (s.plugin->options().command) {
    // A WASI command: stdout is the call's output, stderr its error text (both within the
    // plugin's memory limit, as an Extism output is).
    std::string& into = fd == 1 ? s.command_stdout : s.command_stderr;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t buf = get_u32(mem, iovs + 8 * i), len = get_u32(mem, iovs + 8 * i + 4);
      if (!in_guest(mem, buf, len)) { r[0] = kWasiFault; return {}; }
      if (into.size() + len > s.kernel.max_bytes()) {
        return Trap{ErrorKind::OutOfMemory, fmt::format("oom: the command wrote more than {} bytes to {}", s.kernel.max_bytes(),
                                                        fd == 1 ? "stdout" : "stderr"), std::nullopt};
      }
      into.append(reinterpret_cast<const char*>(mem.data() + buf), len);
      total += len;
    }
    put_u32(mem, nwritten, static_cast<uint32_t>(total));
    r[0] = kWasiSuccess;
    return {};
  }
  std::string text;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t buf = get_u32(mem, iovs + 8 * i), len = get_u32(mem, iovs + 8 * i + 4);
    if (!in_guest(mem, buf, len)) { r[0] = kWasiFault; return {}; }
    if (auto e = charge_log(s, len)) return e;
    text.append(reinterpret_cast<const char*>(mem.data() + buf), len);
  }
  constexpr size_t kMaxCapture = 64 * 1024;
  if (s.captured_stdout.size() < kMaxCapture) {
    s.captured_stdout.append(text, 0, kMaxCapture - s.captured_stdout.size());
  }
  if (!text.empty()) s.sink->plugin_stdout(s.plugin->options(), static_cast<int>(fd), text);
  put_u32(mem, nwritten, static_cast<uint32_t>(text.size()));
  r[0] = kWasiSuccess;
  return {};
}

HostResult wasi_random_get(Caller& c, Args a, Results r) {
  auto mem = c.memory();
  uint32_t buf = static_cast<uint32_t>(a[0]), len = static_cast<uint32_t>(a[1]);
  if (!in_guest(mem, buf, len)) { r[0] = kWasiFault; return {}; }
  r[0] = random_bytes(mem.subspan(buf, len)) ? kWasiSuccess : 29 /* EIO */;
  return {};
}

bool clock_for(uint32_t id, clockid_t* out) {
  switch (id) {
    case 0: *out = CLOCK_REALTIME; return true;
    case 1: *out = CLOCK_MONOTONIC; return true;
    case 2: *out = CLOCK_PROCESS_CPUTIME_ID; return true;
    case 3: *out = CLOCK_THREAD_CPUTIME_ID; return true;
    default: return false;
  }
}

HostResult wasi_clock_time_get(Caller& c, Args a, Results r) {
  auto mem = c.memory();
  clockid_t id;
  uint32_t ptr = static_cast<uint32_t>(a[2]);
  if (!clock_for(static_cast<uint32_t>(a[0]), &id)) { r[0] = kWasiInval; return {}; }
  if (!in_guest(mem, ptr, 8)) { r[0] = kWasiFault; return {}; }
  timespec ts;
  clock_gettime(id, &ts);
  put_u64(mem, ptr, uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec));
  r[0] = kWasiSuccess;
  return {};
}

HostResult wasi_clock_res_get(Caller& c, Args a, Results r) {
  auto mem = c.memory();
  clockid_t id;
  uint32_t ptr = static_cast<uint32_t>(a[1]);
  if (!clock_for(static_cast<uint32_t>(a[0]), &id)) { r[0] = kWasiInval; return {}; }
  if (!in_guest(mem, ptr, 8)) { r[0] = kWasiFault; return {}; }
  timespec ts;
  clock_getres(id, &ts);
  put_u64(mem, ptr, uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec));
  r[0] = kWasiSuccess;
  return {};
}

// A WASI command's argv: the plugin's name, then the call's arguments (CallOptions::argv).
std::vector<std::string_view> argv_of(InstanceState& s) {
  std::vector<std::string_view> v{s.plugin->options().name};
  for (const auto& a : s.argv) v.push_back(a);
  return v;
}

HostResult wasi_args_sizes_get(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  auto mem = c.memory();
  uint32_t p0 = static_cast<uint32_t>(a[0]), p1 = static_cast<uint32_t>(a[1]);
  if (!in_guest(mem, p0, 4) || !in_guest(mem, p1, 4)) { r[0] = kWasiFault; return {}; }
  uint64_t count = 0, bytes = 0;
  if (s.plugin->options().command) {
    for (auto arg : argv_of(s)) {
      ++count;
      bytes += arg.size() + 1;
    }
  }
  put_u32(mem, p0, static_cast<uint32_t>(count));
  put_u32(mem, p1, static_cast<uint32_t>(bytes));
  r[0] = kWasiSuccess;
  return {};
}

HostResult wasi_args_get(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  if (!s.plugin->options().command) { r[0] = kWasiSuccess; return {}; }
  auto mem = c.memory();
  uint32_t ptrs = static_cast<uint32_t>(a[0]), buf = static_cast<uint32_t>(a[1]);
  auto argv = argv_of(s);
  uint64_t bytes = 0;
  for (auto arg : argv) bytes += arg.size() + 1;
  if (!in_guest(mem, ptrs, uint64_t(argv.size()) * 4) || !in_guest(mem, buf, bytes)) { r[0] = kWasiFault; return {}; }
  for (size_t i = 0; i < argv.size(); ++i) {
    put_u32(mem, ptrs + 4 * i, buf);
    std::memcpy(mem.data() + buf, argv[i].data(), argv[i].size());
    mem[buf + argv[i].size()] = 0;
    buf += static_cast<uint32_t>(argv[i].size() + 1);
  }
  r[0] = kWasiSuccess;
  return {};
}

// fd_read on stdin: a WASI command's input; nothing else is readable (file descriptors of
// granted folders are host/wasi_fs.cpp's).
HostResult wasi_fd_read(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  auto mem = c.memory();
  uint32_t fd = static_cast<uint32_t>(a[0]), iovs = static_cast<uint32_t>(a[1]), n = static_cast<uint32_t>(a[2]),
           nread = static_cast<uint32_t>(a[3]);
  if (s.fs && s.fs->owns(fd)) { r[0] = s.fs->read(mem, fd, iovs, n, -1, nread); return {}; }
  if (!in_guest(mem, iovs, uint64_t(n) * 8) || !in_guest(mem, nread, 4)) { r[0] = kWasiFault; return {}; }
  if (fd != 0) { r[0] = kWasiBadf; return {}; }
  uint64_t total = 0;
  for (uint32_t i = 0; i < n && s.stdin_pos < s.stdin_data.size(); ++i) {
    uint32_t buf = get_u32(mem, iovs + 8 * i), len = get_u32(mem, iovs + 8 * i + 4);
    if (!in_guest(mem, buf, len)) { r[0] = kWasiFault; return {}; }
    size_t take = std::min<size_t>(len, s.stdin_data.size() - s.stdin_pos);
    std::memcpy(mem.data() + buf, s.stdin_data.data() + s.stdin_pos, take);
    s.stdin_pos += take;
    total += take;
  }
  put_u32(mem, nread, static_cast<uint32_t>(total));
  r[0] = kWasiSuccess;
  return {};
}

// fd_fdstat_get for stdin/out/err: character devices (wasi-libc asks before buffering stdio).
HostResult wasi_fd_fdstat_get(Caller& c, Args a, Results r) {
  auto mem = c.memory();
  uint32_t fd = static_cast<uint32_t>(a[0]), ptr = static_cast<uint32_t>(a[1]);
  if (WasiFs* fs = state(c).fs.get(); fs && fs->owns(fd)) { r[0] = fs->fdstat_get(mem, fd, ptr); return {}; }
  if (fd > 2) { r[0] = kWasiBadf; return {}; }
  if (!in_guest(mem, ptr, 24)) { r[0] = kWasiFault; return {}; }
  std::memset(mem.data() + ptr, 0, 24);
  mem[ptr] = 2;  // character_device
  put_u64(mem, ptr + 8, fd == 0 ? (1ull << 1) : (1ull << 6));  // fd_read / fd_write
  r[0] = kWasiSuccess;
  return {};
}

// environ_sizes_get: zero entries, zero bytes.
HostResult wasi_sizes_empty(Caller& c, Args a, Results r) {
  auto mem = c.memory();
  uint32_t p0 = static_cast<uint32_t>(a[0]), p1 = static_cast<uint32_t>(a[1]);
  if (!in_guest(mem, p0, 4) || !in_guest(mem, p1, 4)) { r[0] = kWasiFault; return {}; }
  put_u32(mem, p0, 0);
  put_u32(mem, p1, 0);
  r[0] = kWasiSuccess;
  return {};
}

HostResult wasi_get_empty(Caller&, Args, Results r) { r[0] = kWasiSuccess; return {}; }

HostResult wasi_proc_exit(Caller&, Args a, Results) { return Trap::exit(static_cast<int32_t>(a[0])); }

HostResult wasi_fd_prestat_get(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  if (s.fs) {
    r[0] = s.fs->prestat_get(c.memory(), static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]));
    return {};
  }
  s.fs_attempted = true;
  r[0] = kWasiBadf;  // no preopened directories
  return {};
}

// The file functions with granted folders (host/wasi_fs.hpp). Without a grant they answer
// ENOSYS, as the others do; a function naming a path also notes the attempt, so the call can
// say why the plugin saw no files (a descriptor function on stdout is not an attempt).
uint32_t u32(uint64_t v) { return static_cast<uint32_t>(v); }

template <typename F>
engine::HostFn fs_fn(bool names_a_path, F f) {
  return [names_a_path, f](Caller& c, Args a, Results r) -> HostResult {
    InstanceState& s = state(c);
    if (!s.fs) {
      if (names_a_path) s.fs_attempted = true;
      r[0] = kWasiNosys;
      return {};
    }
    r[0] = f(*s.fs, c.memory(), a);
    return {};
  };
}

HostResult wasi_enosys(Caller&, Args, Results r) {
  r[0] = kWasiNosys;
  return {};
}

HostResult wasi_fs_enosys(Caller& c, Args, Results r) {
  InstanceState& s = state(c);
  if (!s.fs) s.fs_attempted = true;  // with granted folders, only this function is missing
  r[0] = kWasiNosys;
  return {};
}

// ---- wasimancer:host/mcp ----------------------------------------------------------------------

HostResult mcp_progress(Caller& c, Args a, Results r) {
  InstanceState& s = state(c);
  Trap err;
  auto json = read_handle(s, a[0], "progress", false, &err);
  if (!json) return err;
  s.kernel.free(a[0]);
  r[0] = s.sink->progress(*json) ? 0 : 1;
  return {};
}

HostResult mcp_notify_log(Caller& c, Args a, Results) {
  InstanceState& s = state(c);
  Trap err;
  auto msg = read_handle(s, a[1], "log message", true, &err);
  if (!msg) return err;
  s.kernel.free(a[1]);
  if (auto e = charge_log(s, msg->size())) return e;
  s.sink->client_log(static_cast<int32_t>(a[0]), *msg);
  return {};
}

HostResult mcp_ask(Caller& c, Args a, Results r, bool sampling) {
  InstanceState& s = state(c);
  Trap err;
  auto req = read_handle(s, a[0], sampling ? "sampling request" : "elicitation request", false, &err);
  if (!req) return err;
  s.kernel.free(a[0]);
  // Time spent waiting on the client (or the user) does not count against the plugin's limit.
  auto waited_from = Clock::now();
  auto res = sampling ? s.sink->sample(*req) : s.sink->elicit(*req);
  s.control->deadline.extend(Clock::now() - waited_from);
  if (!res) {
    s.sink->plugin_log(s.plugin->options(), LogLevel::Warn,
                       fmt::format("{} failed: {}", sampling ? "sampling" : "elicitation", res.error().message));
    r[0] = 0;
    return {};
  }
  r[0] = s.kernel.alloc_bytes(*res);
  return {};
}

HostResult mcp_sample(Caller& c, Args a, Results r) { return mcp_ask(c, a, r, true); }
HostResult mcp_elicit(Caller& c, Args a, Results r) { return mcp_ask(c, a, r, false); }

// ---- extism:host/user: the host functions of hyper-mcp's plugin interface (v1 and v2) -------
// Inputs and outputs are MCP JSON (xtp-plugin-schema.json). Requests to the client wait without
// counting against the call's time, as sample/elicit do; an answer the client cannot give is an
// error the plugin sees (hyper-mcp's functions fail the call: so do these).

// The JSON a user function was given in kernel memory (freed once read), or "{}" without one.
std::optional<std::string> user_json(InstanceState& s, std::optional<uint64_t> handle, std::string_view what, Trap* err) {
  if (!handle) return std::string("{}");
  auto text = read_handle(s, *handle, what, false, err);
  if (!text) return std::nullopt;
  std::string out(*text);
  s.kernel.free(*handle);
  return out;
}

HostResult user_ask(Caller& c, std::optional<uint64_t> handle, Results r, std::string_view what,
                    const std::function<Result<std::string>(InstanceState&, std::string_view)>& ask) {
  InstanceState& s = state(c);
  Trap err;
  auto request = user_json(s, handle, what, &err);
  if (!request) return err;
  auto waited_from = Clock::now();
  auto res = ask(s, *request);
  s.control->deadline.extend(Clock::now() - waited_from);
  if (!res) return host_trap(fmt::format("{} failed: {}", what, res.error().message));
  r[0] = s.kernel.alloc_bytes(*res);
  if (r[0] == 0 && !res->empty()) return Trap{ErrorKind::OutOfMemory, "oom: the answer does not fit in kernel memory", std::nullopt};
  return {};
}

HostResult user_create_elicitation(Caller& c, Args a, Results r) {
  return user_ask(c, a[0], r, "create_elicitation", [](InstanceState& s, std::string_view req) { return s.sink->elicit(req); });
}
HostResult user_create_message(Caller& c, Args a, Results r) {
  return user_ask(c, a[0], r, "create_message", [](InstanceState& s, std::string_view req) { return s.sink->sample(req); });
}
HostResult user_list_roots(Caller& c, Args, Results r) {
  return user_ask(c, std::nullopt, r, "list_roots", [](InstanceState& s, std::string_view) { return s.sink->list_roots(); });
}

HostResult user_notify(Caller& c, std::optional<uint64_t> handle, std::string_view method) {
  InstanceState& s = state(c);
  Trap err;
  auto params = user_json(s, handle, method, &err);
  if (!params) return err;
  if (auto e = charge_log(s, params->size() + method.size())) return e;
  s.sink->notify(method, *params);
  return {};
}

HostResult user_notify_logging_message(Caller& c, Args a, Results) { return user_notify(c, a[0], "notifications/message"); }
HostResult user_notify_progress(Caller& c, Args a, Results) { return user_notify(c, a[0], "notifications/progress"); }
HostResult user_notify_resource_updated(Caller& c, Args a, Results) {
  return user_notify(c, a[0], "notifications/resources/updated");
}
HostResult user_notify_tool_list_changed(Caller& c, Args, Results) {
  return user_notify(c, std::nullopt, "notifications/tools/list_changed");
}
HostResult user_notify_prompt_list_changed(Caller& c, Args, Results) {
  return user_notify(c, std::nullopt, "notifications/prompts/list_changed");
}
HostResult user_notify_resource_list_changed(Caller& c, Args, Results) {
  return user_notify(c, std::nullopt, "notifications/resources/list_changed");
}

// ---- the table --------------------------------------------------------------------------------

using Table = std::map<std::string, HostFunc, std::less<>>;

FuncType sig(std::initializer_list<ValType> p, std::initializer_list<ValType> res) { return FuncType{p, res}; }

Table make_env() {
  Table t;
  t["alloc"] = {sig({I64}, {I64}), k_alloc};
  t["free"] = {sig({I64}, {}), k_free};
  t["length"] = {sig({I64}, {I64}), k_length};
  t["length_unsafe"] = {sig({I64}, {I64}), k_length};
  t["load_u8"] = {sig({I64}, {I32}), k_load_u8};
  t["load_u64"] = {sig({I64}, {I64}), k_load_u64};
  t["store_u8"] = {sig({I64, I32}, {}), k_store_u8};
  t["store_u64"] = {sig({I64, I64}, {}), k_store_u64};
  t["input_offset"] = {sig({}, {I64}), k_input_offset};
  t["input_length"] = {sig({}, {I64}), k_input_length};
  t["input_load_u8"] = {sig({I64}, {I32}), k_input_load_u8};
  t["input_load_u64"] = {sig({I64}, {I64}), k_input_load_u64};
  t["output_set"] = {sig({I64, I64}, {}), k_output_set};
  t["error_set"] = {sig({I64}, {}), k_error_set};
  t["error_get"] = {sig({}, {I64}), k_error_get};
  t["config_get"] = {sig({I64}, {I64}), config_get};
  t["var_get"] = {sig({I64}, {I64}), var_get};
  t["var_set"] = {sig({I64, I64}, {}), var_set};
  t["http_request"] = {sig({I64, I64}, {I64}), http_request};
  t["http_status_code"] = {sig({}, {I32}), http_status_code};
  t["http_headers"] = {sig({}, {I64}), http_headers};
  t["log_info"] = {sig({I64}, {}), log_info};
  t["log_debug"] = {sig({I64}, {}), log_debug};
  t["log_warn"] = {sig({I64}, {}), log_warn};
  t["log_error"] = {sig({I64}, {}), log_error};
  t["log_trace"] = {sig({I64}, {}), log_trace};
  t["get_log_level"] = {sig({}, {I32}), get_log_level};
  t["input_set"] = {sig({I64, I64}, {}), k_input_set};
  t["output_offset"] = {sig({}, {I64}), k_output_offset};
  t["output_length"] = {sig({}, {I64}), k_output_length};
  t["reset"] = {sig({}, {}), k_reset};
  t["memory_bytes"] = {sig({}, {I64}), k_memory_bytes};
  return t;
}

Table make_wasi() {
  Table t;
  auto i32s = [](int n) { return std::vector<ValType>(static_cast<size_t>(n), I32); };
  auto add = [&](const char* name, std::vector<ValType> params, engine::HostFn fn) {
    t[name] = HostFunc{FuncType{std::move(params), {I32}}, std::move(fn)};
  };
  add("fd_write", i32s(4), wasi_fd_write);
  add("random_get", i32s(2), wasi_random_get);
  add("clock_time_get", {I32, I64, I32}, wasi_clock_time_get);
  add("clock_res_get", i32s(2), wasi_clock_res_get);
  add("args_sizes_get", i32s(2), wasi_args_sizes_get);
  add("environ_sizes_get", i32s(2), wasi_sizes_empty);
  add("args_get", i32s(2), wasi_args_get);
  add("environ_get", i32s(2), wasi_get_empty);
  add("fd_prestat_get", i32s(2), wasi_fd_prestat_get);
  t["proc_exit"] = HostFunc{FuncType{{I32}, {}}, wasi_proc_exit};
  // Everything else in preview1 answers ENOSYS; the file functions also note the attempt.
  using Mem = std::span<uint8_t>;
  add("fd_prestat_dir_name", i32s(3), fs_fn(true, [](WasiFs& fs, Mem m, Args a) { return fs.prestat_dir_name(m, u32(a[0]), u32(a[1]), u32(a[2])); }));
  add("path_open", {I32, I32, I32, I32, I32, I64, I64, I32, I32}, fs_fn(true, [](WasiFs& fs, Mem m, Args a) {
        return fs.path_open(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]), a[5], u32(a[7]), u32(a[8]));
      }));
  add("path_create_directory", i32s(3), fs_fn(true, [](WasiFs& fs, Mem m, Args a) { return fs.create_directory(m, u32(a[0]), u32(a[1]), u32(a[2])); }));
  add("path_filestat_get", i32s(5), fs_fn(true, [](WasiFs& fs, Mem m, Args a) {
        return fs.path_filestat_get(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]));
      }));
  add("path_remove_directory", i32s(3), fs_fn(true, [](WasiFs& fs, Mem m, Args a) { return fs.unlink(m, u32(a[0]), u32(a[1]), u32(a[2]), true); }));
  add("path_unlink_file", i32s(3), fs_fn(true, [](WasiFs& fs, Mem m, Args a) { return fs.unlink(m, u32(a[0]), u32(a[1]), u32(a[2]), false); }));
  add("fd_close", i32s(1), fs_fn(false, [](WasiFs& fs, Mem, Args a) { return fs.close(u32(a[0])); }));
  add("fd_datasync", i32s(1), fs_fn(false, [](WasiFs& fs, Mem, Args a) { return fs.sync(u32(a[0])); }));
  add("fd_sync", i32s(1), fs_fn(false, [](WasiFs& fs, Mem, Args a) { return fs.sync(u32(a[0])); }));
  add("fd_filestat_get", i32s(2), fs_fn(false, [](WasiFs& fs, Mem m, Args a) { return fs.filestat_get(m, u32(a[0]), u32(a[1])); }));
  add("fd_filestat_set_size", {I32, I64}, fs_fn(false, [](WasiFs& fs, Mem, Args a) { return fs.filestat_set_size(u32(a[0]), a[1]); }));
  add("fd_pread", {I32, I32, I32, I64, I32}, fs_fn(false, [](WasiFs& fs, Mem m, Args a) {
        return fs.read(m, u32(a[0]), u32(a[1]), u32(a[2]), static_cast<int64_t>(a[3] & INT64_MAX), u32(a[4]));
      }));
  add("fd_pwrite", {I32, I32, I32, I64, I32}, fs_fn(false, [](WasiFs& fs, Mem m, Args a) {
        return fs.write(m, u32(a[0]), u32(a[1]), u32(a[2]), static_cast<int64_t>(a[3] & INT64_MAX), u32(a[4]));
      }));
  add("fd_readdir", {I32, I32, I32, I64, I32}, fs_fn(false, [](WasiFs& fs, Mem m, Args a) {
        return fs.readdir(m, u32(a[0]), u32(a[1]), u32(a[2]), a[3], u32(a[4]));
      }));
  add("fd_seek", {I32, I64, I32, I32}, fs_fn(false, [](WasiFs& fs, Mem m, Args a) {
        return fs.seek(m, u32(a[0]), static_cast<int64_t>(a[1]), u32(a[2]) & 0xff, u32(a[3]));
      }));
  add("fd_tell", i32s(2), fs_fn(false, [](WasiFs& fs, Mem m, Args a) { return fs.seek(m, u32(a[0]), 0, 1, u32(a[1])); }));
  add("path_filestat_set_times", {I32, I32, I32, I32, I64, I64, I32}, wasi_fs_enosys);
  add("path_link", i32s(7), wasi_fs_enosys);
  add("path_readlink", i32s(6), wasi_fs_enosys);
  add("path_rename", i32s(6), wasi_fs_enosys);
  add("path_symlink", i32s(5), wasi_fs_enosys);
  add("fd_advise", {I32, I64, I64, I32}, wasi_enosys);
  add("fd_allocate", {I32, I64, I64}, wasi_enosys);
  add("fd_fdstat_get", i32s(2), wasi_fd_fdstat_get);
  add("fd_fdstat_set_flags", i32s(2), wasi_enosys);
  add("fd_fdstat_set_rights", {I32, I64, I64}, wasi_enosys);
  add("fd_filestat_set_times", {I32, I64, I64, I32}, wasi_enosys);
  add("fd_read", i32s(4), wasi_fd_read);
  add("fd_renumber", i32s(2), wasi_enosys);
  add("poll_oneoff", i32s(4), wasi_enosys);
  add("proc_raise", i32s(1), wasi_enosys);
  add("sched_yield", {}, wasi_enosys);
  add("sock_accept", i32s(3), wasi_enosys);
  add("sock_recv", i32s(6), wasi_enosys);
  add("sock_send", i32s(5), wasi_enosys);
  add("sock_shutdown", i32s(2), wasi_enosys);
  return t;
}

Table make_mcp() {
  Table t;
  t["progress"] = {sig({I64}, {I32}), mcp_progress};
  t["notify_log"] = {sig({I32, I64}, {}), mcp_notify_log};
  t["sample"] = {sig({I64}, {I64}), mcp_sample};
  t["elicit"] = {sig({I64}, {I64}), mcp_elicit};
  return t;
}

Table make_user() {
  Table t;
  t["create_elicitation"] = {sig({I64}, {I64}), user_create_elicitation};
  t["create_message"] = {sig({I64}, {I64}), user_create_message};
  t["list_roots"] = {sig({}, {I64}), user_list_roots};
  t["notify_logging_message"] = {sig({I64}, {}), user_notify_logging_message};
  t["notify_progress"] = {sig({I64}, {}), user_notify_progress};
  t["notify_resource_updated"] = {sig({I64}, {}), user_notify_resource_updated};
  t["notify_tool_list_changed"] = {sig({}, {}), user_notify_tool_list_changed};
  t["notify_prompt_list_changed"] = {sig({}, {}), user_notify_prompt_list_changed};
  t["notify_resource_list_changed"] = {sig({}, {}), user_notify_resource_list_changed};
  return t;
}

}  // namespace

const engine::HostFunc* find_host_function(std::string_view module, std::string_view name) {
  static const std::map<std::string, Table, std::less<>> namespaces = {
      {"extism:host/env", make_env()},
      {"wasi_snapshot_preview1", make_wasi()},
      {"wasimancer:host/mcp", make_mcp()},
      {"extism:host/user", make_user()},
  };
  auto ns = namespaces.find(module);
  if (ns == namespaces.end()) return nullptr;
  auto f = ns->second.find(name);
  return f == ns->second.end() ? nullptr : &f->second;
}

}  // namespace wasimancer::host
