// The sandbox worker process: `wasimancer __worker`, started by the server (sandbox.cpp) with an
// empty environment, its channel as descriptor 3 and nothing else open.
#include "sandbox/worker.hpp"

#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "engine/native.hpp"
#include "host/plugin.hpp"
#include "sandbox/protocol.hpp"
#include "sandbox/landlock.hpp"
#include "sandbox/seccomp.hpp"
#include "sandbox/wire.hpp"

namespace wasimancer::sandbox {

namespace {

constexpr size_t kMaxServerFrame = 1ull << 30;  // the server is trusted; this only bounds mistakes

// The call being run and its cancel flag, set by SIGUSR1 from the server (sigqueue with the
// call's number, so a late signal for an earlier call cancels nothing).
std::atomic<uint32_t> g_call{0};
std::atomic<bool> g_cancel{false};

void on_cancel(int, siginfo_t* info, void*) {
  if (static_cast<uint32_t>(info->si_value.sival_int) == g_call.load()) g_cancel.store(true);
}

// Sends a host request and waits for its answer (both on the one channel).
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd), reader_(fd) {}

  Result<void> receive(Frame& f) { return reader_.next(kMaxServerFrame, Deadline(), f); }

  bool send(Msg type, std::string_view payload) { return send_frame(fd_, static_cast<uint8_t>(type), payload).ok(); }

  // Host request with an answer; nullopt if the server is gone (the worker then exits).
  std::optional<std::string> ask(HostOp op, std::string_view payload) {
    tell(op, payload);
    Frame f;
    if (!receive(f).ok() || f.type != static_cast<uint8_t>(Msg::HostReply)) {
      _exit(0);  // the server went away or broke the protocol: nothing left to do
    }
    return std::move(f.payload);
  }

  void tell(HostOp op, std::string_view payload) {
    buf_.clear();
    buf_.push_back(static_cast<char>(op));
    buf_.append(payload);
    if (!send(Msg::Host, buf_)) _exit(0);
  }

 private:
  int fd_;
  FrameReader reader_;
  std::string buf_;
};

class ChannelSink final : public host::CallSink {
 public:
  explicit ChannelSink(Channel& c) : c_(c) {}
  void plugin_log(const host::PluginOptions&, LogLevel level, std::string_view message) override {
    Writer w;
    w.i32(static_cast<int32_t>(level)).str(message);
    c_.tell(HostOp::Log, w.bytes());
  }
  void plugin_stdout(const host::PluginOptions&, int fd, std::string_view text) override {
    Writer w;
    w.i32(fd).str(text);
    c_.tell(HostOp::Stdout, w.bytes());
  }
  bool progress(std::string_view json) override {
    auto r = c_.ask(HostOp::Progress, json);
    return r && !r->empty() && (*r)[0] == 1;
  }
  void client_log(int level, std::string_view message) override {
    Writer w;
    w.i32(level).str(message);
    c_.tell(HostOp::ClientLog, w.bytes());
  }
  Result<std::string> sample(std::string_view request_json) override { return ask_text(HostOp::Sample, request_json); }
  Result<std::string> elicit(std::string_view request_json) override { return ask_text(HostOp::Elicit, request_json); }
  Result<std::string> list_roots() override { return ask_text(HostOp::ListRoots, ""); }
  void notify(std::string_view method, std::string_view params_json) override {
    Writer w;
    w.str(method).str(params_json);
    c_.tell(HostOp::Notify, w.bytes());
  }

 private:
  Result<std::string> ask_text(HostOp op, std::string_view json) {
    auto r = c_.ask(op, json);
    Reader rd(*r);
    bool ok = rd.u8() != 0;
    if (ok) {
      std::string text(rd.str());
      return text;
    }
    ErrorKind k = kind_from_wire(rd.u8());
    return Error(k, std::string(rd.str()));
  }
  Channel& c_;
};

class ChannelServices final : public host::Services {
 public:
  explicit ChannelServices(Channel& c) : c_(c) {}
  std::optional<std::string> var_get(std::string_view key) override {
    auto r = c_.ask(HostOp::VarGet, key);
    Reader rd(*r);
    if (!rd.u8()) return std::nullopt;
    return std::string(rd.str());
  }
  Result<void> var_set(std::string_view key, std::optional<std::string_view> value) override {
    Writer w;
    w.str(key).u8(value.has_value()).str(value.value_or(""));
    auto r = c_.ask(HostOp::VarSet, w.bytes());
    Reader rd(*r);
    if (rd.u8()) return {};
    ErrorKind k = kind_from_wire(rd.u8());
    return Error(k, std::string(rd.str()));
  }
  Result<host::HttpResponse> http(const host::HttpRequest& request, const Deadline& deadline, const std::atomic<bool>*) override {
    Writer w;
    w.u32(static_cast<uint32_t>(std::min<int64_t>(deadline.remaining().count(), UINT32_MAX))).str(encode(request));
    auto r = c_.ask(HostOp::Http, w.bytes());
    auto resp = decode_http_response(*r);
    if (!resp) return Error(ErrorKind::HostError, "the server sent a malformed HTTP response");
    return std::move(*resp);
  }

 private:
  Channel& c_;
};

uint64_t cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 +
         static_cast<uint64_t>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000;
}

// Loads the plugin. Runs after the filter is in place: parsing the module and its start code
// are the first things that touch what the uploader chose.
struct Loaded {
  std::shared_ptr<const host::CompiledPlugin> plugin;
  std::shared_ptr<const engine::NativeCode> native;
};

Result<std::unique_ptr<host::PluginInstance>> load(LoadRequest& req, std::shared_ptr<engine::Watchdog> watchdog,
                                                   std::shared_ptr<const host::Preopens> preopens, ReadyInfo* ready,
                                                   Loaded* loaded) {
  host::PluginOptions opts;
  opts.name = req.name;
  opts.config = req.config;
  opts.limits = req.limits;
  opts.http_response_headers = req.http_response_headers;
  opts.log_level = req.log_level;
  opts.tier = host::Tier::Interpreter;  // native code, if any, is attached below
  opts.watchdog = std::move(watchdog);
  opts.command = req.command;
  opts.preopens = std::move(preopens);
  auto plugin = host::CompiledPlugin::load(req.wasm, std::move(opts));
  if (!plugin) return plugin.take_error();
  req.wasm.clear();
  req.wasm.shrink_to_fit();
  std::shared_ptr<const engine::NativeCode> native;
  if (!req.native_library.empty()) {
    auto code = engine::open_native(engine::NativeBuild{req.native_library, req.native_description}, (*plugin)->info());
    if (!code) return code.take_error();
    native = *code;
  }
  auto inst = host::PluginInstance::create(*plugin, native);
  if (!inst) return inst.take_error();
  loaded->plugin = *plugin;
  loaded->native = native;
  ready->module = (*plugin)->info();
  ready->tier = (*inst)->tier_name();
  return inst;
}

}  // namespace

int worker_main(int fd) {
  Channel channel(fd);
  Frame f;
  if (!channel.receive(f).ok() || f.type != static_cast<uint8_t>(Msg::Load)) return 2;
  auto req = decode_load(f.payload);
  f.payload.clear();
  f.payload.shrink_to_fit();
  if (!req) return 2;

  // Everything that needs more than the filter allows happens now, before any of the module is
  // looked at: the native code is mapped, the crypto library initialised, the signal handlers and
  // the watchdog thread set up.
  if (!req->native_library.empty() && !dlopen(req->native_library.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    channel.send(Msg::LoadError, encode_error(Error(ErrorKind::Internal, fmt::format("cannot load the native code: {}", dlerror()))));
    return 1;
  }
  (void)sha256_hex(std::string_view("warm-up"));
  uint8_t warm[4];
  (void)random_bytes(warm);
  struct sigaction sa {};
  sa.sa_sigaction = on_cancel;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  // Granted folders: opened now, then the process is confined to them (Landlock, before any
  // other thread exists), and the filter below allows the file calls.
  std::shared_ptr<const host::Preopens> preopens;
  if (!req->grants.empty()) {
    auto pre = host::Preopens::open(req->grants);
    if (!pre) {
      channel.send(Msg::LoadError, encode_error(pre.error()));
      return 1;
    }
    preopens = *pre;
    if (auto confined = enter_landlock(*preopens); !confined) {
      channel.send(Msg::LoadError, encode_error(confined.error()));
      return 1;
    }
  }
  auto watchdog = std::make_shared<engine::Watchdog>();
  watchdog->start();
  engine::prepare_native_thread();
  if (auto r = enter_seccomp(preopens != nullptr); !r) {
    channel.send(Msg::LoadError, encode_error(r.error()));
    return 1;
  }

  ReadyInfo ready;
  Loaded loaded;
  auto inst = load(*req, watchdog, preopens, &ready, &loaded);
  if (!inst) {
    channel.send(Msg::LoadError, encode_error(inst.error()));
    return 1;
  }
  if (!channel.send(Msg::Ready, encode(ready))) return 0;

  ChannelSink sink(channel);
  ChannelServices services(channel);
  uint32_t call_number = 0;
  uint64_t last_cpu_ms = cpu_ms();
  for (;;) {
    if (!channel.receive(f).ok()) return 0;  // the server closed the channel
    if (f.type != static_cast<uint8_t>(Msg::Call)) return 2;
    auto call = decode_call(f.payload);
    if (!call || !*inst) return 2;
    g_cancel.store(false);
    g_call.store(++call_number);
    host::CallOptions co;
    co.sink = &sink;
    co.services = &services;
    co.cancel = &g_cancel;
    if (call->timeout_ms) co.timeout = std::chrono::milliseconds(*call->timeout_ms);
    co.argv = std::move(call->argv);
    CallReply reply;
    const auto started = std::chrono::steady_clock::now();
    reply.outcome = (*inst)->call(call->function, call->input, co);
    reply.reusable = (*inst)->reusable();
    if (!reply.reusable && req->command) {
      // A WASI command runs once per instance: the next call gets a fresh one in this worker
      // (the module stays compiled), not a new worker.
      (*inst).reset();
      auto fresh = host::PluginInstance::create(loaded.plugin, loaded.native);
      if (fresh) {
        *inst = std::move(*fresh);
        reply.reusable = true;
      }
    }
    // The CPU time (for recycling a worker that has used a lot) is read every 32nd call or after
    // a call that took a while: a system call per call was a visible share of a short call.
    if (call_number % 32 == 0 || std::chrono::steady_clock::now() - started > std::chrono::milliseconds(10)) last_cpu_ms = cpu_ms();
    reply.cpu_ms = last_cpu_ms;
    if (!channel.send(Msg::Result, encode(reply))) return 0;
  }
}

}  // namespace wasimancer::sandbox
