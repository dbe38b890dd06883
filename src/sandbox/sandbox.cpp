#include "sandbox/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/subprocess.hpp"
#include "core/thread_name.hpp"

namespace wasimancer::sandbox {

namespace {

constexpr int kChannelFd = 3;
// The largest frame a worker may send: an output or a request can be as large as the plugin's
// kernel memory, which is capped by its memory limit; this caps what the server ever buffers.
constexpr size_t kMaxWorkerFrame = 256ull << 20;

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == SIGSYS) return "it was killed by its system-call filter (SIGSYS)";
    if (sig == SIGXCPU) return "it used up its CPU time limit (SIGXCPU)";
    if (sig == SIGKILL) return "it was killed (SIGKILL)";
    return fmt::format("it was killed by signal {} ({})", sig, strsignal(sig));
  }
  if (WIFEXITED(status)) return fmt::format("it exited with status {}", WEXITSTATUS(status));
  return "it ended";
}

}  // namespace

// ---- starting workers ----------------------------------------------------------------------------

struct Sandbox::Spawn {
  int channel_fd;
  uint64_t address_space;
  uint64_t cpu_seconds;
  std::string label;  // shown by ps: the plugin's name
  Result<pid_t> result{Error(ErrorKind::Internal, "not started")};
  bool done = false;
};

Sandbox::Sandbox(SandboxConfig config) : config_(std::move(config)) {
  if (!kAddressSpaceLimits) log().warn("sanitizer build: sandbox workers run without an address-space limit (RLIMIT_AS)");
  thread_ = named_thread("wm-spawner", [this] { spawner(); });
}

Sandbox::~Sandbox() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

// Workers are forked from this one long-lived thread: PR_SET_PDEATHSIG follows the thread that
// forked, so a worker dies with the server (or with the Sandbox), not with a passing thread.
void Sandbox::spawner() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) {
      for (Spawn* s : queue_) {
        s->result = Error(ErrorKind::Cancelled, "the server is shutting down");
        s->done = true;
      }
      queue_.clear();
      cv_.notify_all();
      return;
    }
    Spawn* s = queue_.front();
    queue_.pop_front();
    lock.unlock();
    s->result = spawn(s->channel_fd, s->address_space, s->cpu_seconds, s->label);
    if (s->result) workers_started_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
    s->done = true;
    cv_.notify_all();
  }
}

Result<pid_t> Sandbox::spawn(int channel_fd, uint64_t address_space, uint64_t cpu_seconds, const std::string& label) {
  // Everything the child needs exists before fork: afterwards only async-signal-safe calls.
  std::string program = config_.worker_program.string();
  char arg0[] = "wasimancer-worker";
  char arg1[] = "__worker";
  std::string arg2 = label;
  char* argv[] = {arg0, arg1, arg2.data(), nullptr};
  char* envp[] = {nullptr};
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return Error(ErrorKind::Internal, fmt::format("cannot open /dev/null: {}", std::strerror(errno)));
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(devnull);
    return Error(ErrorKind::Internal, fmt::format("fork failed: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the server died before the line above
    setpgid(0, 0);                         // a terminal's Ctrl-C is for the server, which shuts down in order
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (channel_fd == kChannelFd) {
      fcntl(kChannelFd, F_SETFD, 0);
    } else {
      dup2(channel_fd, kChannelFd);  // dup2 clears close-on-exec on the copy
    }
    close_descriptors_from(kChannelFd + 1, nullptr, 0);
    if (kAddressSpaceLimits) {
      rlimit as{address_space, address_space};
      setrlimit(RLIMIT_AS, &as);
    }
    rlimit cpu{cpu_seconds, cpu_seconds + 10};
    setrlimit(RLIMIT_CPU, &cpu);
    rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    rlimit files{16, 16};
    setrlimit(RLIMIT_NOFILE, &files);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM/SIGINT for its signal thread
    execve(program.c_str(), argv, envp);
    _exit(127);
  }
  close(devnull);
  return pid;
}

Result<std::unique_ptr<RemoteInstance>> Sandbox::start(const LoadRequest& request,
                                                       std::shared_ptr<const host::CompiledPlugin> plugin,
                                                       ReadyInfo* ready) {
  int sv[2];
  if (open_channel(sv) != 0) {
    return Error(ErrorKind::Internal, fmt::format("socketpair failed: {}", std::strerror(errno)));
  }
  // The plugin's memory budget (host/plugin.hpp: memory, kernel, tables) and the stacks.
  const uint64_t budget = uint64_t(request.limits.max_pages) * 65536;
  std::string label;
  for (char c : request.name.substr(0, 64)) label += (c > ' ' && c < 0x7f) ? c : '_';
  Spawn s{sv[1], config_.base_address_space_bytes + 3 * budget + (64ull << 20), config_.recycle_cpu_seconds * 2, label};
  {
    std::unique_lock lock(mu_);
    if (stopping_) {
      close(sv[0]);
      close(sv[1]);
      return Error(ErrorKind::Cancelled, "the server is shutting down");
    }
    queue_.push_back(&s);
    cv_.notify_all();
    cv_.wait(lock, [&] { return s.done; });
  }
  close(sv[1]);
  if (!s.result) {
    close(sv[0]);
    return s.result.take_error();
  }
  // Blocking, with 20 ms timeouts: a call waits for its answer in one read (no poll before it),
  // and still looks at its cancel flag and deadline between timeouts; a worker that stops
  // reading cannot block a send for longer than that either (send_frame then waits with poll).
  timeval slice{0, 20 * 1000};
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
  setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &slice, sizeof slice);
  metrics::record_worker_started();
  std::unique_ptr<RemoteInstance> inst(new RemoteInstance(*this, *s.result, sv[0], ""));
  inst->plugin_ = std::move(plugin);
  if (auto r = send_frame(inst->fd_, static_cast<uint8_t>(Msg::Load), encode(request), Deadline::after(std::chrono::seconds(60)));
      !r) {
    return Error(ErrorKind::Crash, fmt::format("the sandbox worker did not start: {}", inst->end_worker()));
  }
  // Start-up: parsing, instantiation and initialisation, under the plugin's time limit (plus
  // the time to start a process).
  auto limit = request.limits.timeout_ms ? std::chrono::milliseconds(request.limits.timeout_ms) + std::chrono::seconds(10)
                                         : std::chrono::milliseconds(std::chrono::minutes(10));
  Frame& f = inst->frame_;
  if (auto r = inst->reader_.next(kMaxWorkerFrame, Deadline::after(limit), f); !r) {
    std::string ended = inst->end_worker();
    std::string why = r.error().kind == ErrorKind::Timeout           ? "it did not finish loading in time"
                      : r.error().kind == ErrorKind::InvalidArgument ? "it sent a message over the size limit"
                                                                     : ended;
    return Error(ErrorKind::Crash, fmt::format("the sandbox worker failed while loading the plugin: {}", why));
  }
  if (f.type == static_cast<uint8_t>(Msg::LoadError)) {
    auto e = decode_error(f.payload);
    inst->end_worker();
    if (!e) return Error(ErrorKind::Crash, "the sandbox worker sent a malformed error");
    return std::move(*e);
  }
  auto info = f.type == static_cast<uint8_t>(Msg::Ready) ? decode_ready(f.payload) : std::nullopt;
  if (!info) {
    inst->end_worker();
    return Error(ErrorKind::Crash, "the sandbox worker broke the protocol while loading");
  }
  inst->tier_ = info->tier;
  if (ready) *ready = std::move(*info);
  return inst;
}

// ---- RemoteInstance ------------------------------------------------------------------------------

RemoteInstance::~RemoteInstance() {
  if (alive_) end_worker();
}

std::string RemoteInstance::end_worker() {
  if (!alive_) return "it had ended";
  alive_ = false;
  metrics::record_worker_ended();
  close(fd_);
  int status = 0;
  // A worker that already died is reaped as it is (it may take a moment after its channel
  // closed); one still running is killed.
  pid_t r = 0;
  for (int i = 0; i < 50 && (r = waitpid(pid_, &status, WNOHANG)) == 0; ++i) {
    pollfd none{-1, 0, 0};
    poll(&none, 0, 2);
  }
  if (r == 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return "it stopped answering and was killed";
  }
  return r == pid_ ? describe_status(status) : "it could not be waited for";
}

host::CallOutcome RemoteInstance::crashed(std::string why) {
  metrics::record_worker_crash(plugin_ ? std::string_view(plugin_->options().name) : std::string_view("?"));
  host::CallOutcome out;
  out.rc = -1;
  out.error = Error(ErrorKind::Crash, fmt::format("crash: the plugin's sandbox worker failed during the call: {}", why));
  return out;
}

host::CallOutcome RemoteInstance::call(std::string_view function, std::string_view input, const host::CallOptions& options) {
  if (!alive_) return crashed("it had ended before the call");
  if (!plugin_) return crashed("the worker is not bound to a plugin");
  const host::PluginOptions& opts = plugin_->options();
  CallRequest req;
  req.function = std::string(function);
  req.input = std::string(input);
  std::optional<std::chrono::milliseconds> timeout = options.timeout;
  if (!timeout && opts.limits.timeout_ms) timeout = std::chrono::milliseconds(opts.limits.timeout_ms);
  if (options.timeout) req.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(options.timeout->count(), UINT32_MAX));
  req.argv = options.argv;
  ++calls_;
  // The worker enforces the call's limits itself; this deadline only catches a worker that stops
  // answering. Time spent waiting on the client (sampling, elicitation) extends it.
  Deadline hard = timeout ? Deadline::after(*timeout + std::max<std::chrono::milliseconds>(std::chrono::seconds(2), *timeout / 2))
                          : Deadline();
  if (auto r = send_frame(fd_, static_cast<uint8_t>(Msg::Call), encode(req), hard); !r) return crashed(end_worker());
  // A read that failed: a message over the size limit (cut, and so gone), or the channel closed.
  auto read_failed = [&](const Error& e) {
    if (e.kind != ErrorKind::InvalidArgument) return crashed(end_worker());
    end_worker();
    return crashed("it sent a message over the size limit");
  };
  bool cancel_sent = false;
  uint64_t log_bytes = 0;
  for (;;) {
    // While a cancel may come, wait in short slices (the channel's receive timeout) to notice it.
    if (options.cancel && !cancel_sent && !reader_.buffered()) {
      auto got = reader_.read_some();
      if (!got) return read_failed(got.error());
      if (!*got) {
        if (options.cancel->load()) {
          sigval v{};
          v.sival_int = static_cast<int>(calls_);
          sigqueue(pid_, SIGUSR1, v);
          cancel_sent = true;
        } else if (hard.expired()) {
          return crashed(end_worker());
        }
        continue;
      }
    }
    if (auto r = reader_.next(kMaxWorkerFrame, hard, frame_); !r) return read_failed(r.error());
    if (frame_.type == static_cast<uint8_t>(Msg::Result)) {
      auto reply = decode_reply(frame_.payload);
      if (!reply) {
        end_worker();
        return crashed("it broke the protocol");
      }
      reusable_ = reply->reusable && reply->cpu_ms / 1000 < sandbox_.config().recycle_cpu_seconds;
      return std::move(reply->outcome);
    }
    if (frame_.type != static_cast<uint8_t>(Msg::Host) ||
        !serve_host(std::string_view(frame_.payload), options, hard, log_bytes)) {
      end_worker();
      return crashed("it broke the protocol");
    }
  }
}

bool RemoteInstance::serve_host(std::string_view payload, const host::CallOptions& options, Deadline& hard,
                                uint64_t& log_bytes) {
  if (payload.empty()) return false;
  const auto op = static_cast<HostOp>(static_cast<uint8_t>(payload[0]));
  payload.remove_prefix(1);
  const host::PluginOptions& opts = plugin_->options();
  host::CallSink fallback_sink;
  host::CallSink& sink = options.sink ? *options.sink : fallback_sink;
  host::PluginServices own(*plugin_);
  host::Services& svc = options.services ? *options.services : own;
  auto reply = [&](std::string_view bytes) { return send_frame(fd_, static_cast<uint8_t>(Msg::HostReply), bytes, hard).ok(); };
  // Logs count against the call's budget here too: the worker's own count cannot be trusted.
  auto within_log_budget = [&](size_t n) {
    log_bytes += n;
    return log_bytes <= opts.limits.max_log_bytes + 4096;
  };
  Reader r(payload);
  Writer& w = writer_;
  w.clear();
  switch (op) {
    case HostOp::VarGet: {
      auto v = svc.var_get(payload);
      w.u8(v.has_value()).str(v.value_or(""));
      return reply(w.bytes());
    }
    case HostOp::VarSet: {
      std::string key(r.str());
      bool has = r.u8() != 0;
      std::string value(r.str());
      if (!r.done()) return false;
      auto res = opts.limits.max_var_bytes == 0 ? Result<void>(Error(ErrorKind::HostError, "Vars are disabled by this host"))
                                                : svc.var_set(key, has ? std::optional<std::string_view>(value) : std::nullopt);
      w.u8(res.ok());
      if (!res) w.u8(wire_kind(res.error().kind)).str(res.error().message);
      return reply(w.bytes());
    }
    case HostOp::Http: {
      uint32_t ms = r.u32();
      auto req = decode_http_request(r.str());
      if (!r.done() || !req) return false;
      Deadline d = Deadline::after(std::chrono::milliseconds(ms));
      if (hard.is_set() && hard.remaining() < d.remaining()) d = hard;
      return reply(encode(host::traced_http(svc, std::move(*req), d, options.cancel, options.trace)));
    }
    case HostOp::Log: {
      int32_t level = r.i32();
      std::string_view msg = r.str();
      if (!r.done()) return false;
      if (level < 0 || level > static_cast<int32_t>(LogLevel::Error)) return false;
      if (within_log_budget(msg.size()) && static_cast<LogLevel>(level) >= opts.log_level) {
        sink.plugin_log(opts, static_cast<LogLevel>(level), msg);
      }
      return true;
    }
    case HostOp::Stdout: {
      int32_t fd = r.i32();
      std::string_view text = r.str();
      if (!r.done() || (fd != 1 && fd != 2)) return false;
      if (within_log_budget(text.size())) sink.plugin_stdout(opts, fd, text);
      return true;
    }
    case HostOp::ClientLog: {
      int32_t level = r.i32();
      std::string_view msg = r.str();
      if (!r.done()) return false;
      if (within_log_budget(msg.size())) sink.client_log(level, msg);
      return true;
    }
    case HostOp::Progress: {
      w.u8(sink.progress(payload) ? 1 : 0);
      return reply(w.bytes());
    }
    case HostOp::Notify: {
      std::string_view method = r.str();
      std::string_view params = r.str();
      if (!r.done() || !method.starts_with("notifications/") || method.size() > 64) return false;
      if (within_log_budget(method.size() + params.size())) sink.notify(method, params);
      return true;
    }
    case HostOp::Sample:
    case HostOp::Elicit:
    case HostOp::ListRoots: {
      auto from = Clock::now();
      auto res = op == HostOp::Sample ? sink.sample(payload) : op == HostOp::Elicit ? sink.elicit(payload) : sink.list_roots();
      hard.extend(Clock::now() - from);
      w.u8(res.ok());
      if (res) w.str(*res);
      else w.u8(wire_kind(res.error().kind)).str(res.error().message);
      return reply(w.bytes());
    }
  }
  return false;
}

}  // namespace wasimancer::sandbox
