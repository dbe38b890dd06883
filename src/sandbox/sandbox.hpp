// sandbox/sandbox.hpp: plugin code runs in sandboxed worker processes, the way browsers run
// pages, so the next engine bug costs one call, not the server and not its secrets.
//
//   server process                          worker process (`wasimancer __worker`)
//   network, tokens, registry, files,       one plugin version, one instance, one call at a
//   vars, HTTP (with the SSRF checks),      time: the engine and the Extism kernel. No
//   logs, the MCP client         <------>   environment, no descriptor but the channel, a
//                                 channel   seccomp allow-list, RLIMIT_AS / RLIMIT_CPU.
//
// A RemoteInstance is a host::Runner whose instance lives in a worker: a call sends the
// function and input, serves the worker's host requests (host/plugin.hpp: Services and
// CallSink) and returns its outcome. A worker that dies, breaks the protocol, exceeds its limits
// or stops answering ends that call with ErrorKind::Crash and is discarded; the next call gets a
// new worker. Every message from a worker is treated as hostile (sizes capped, payloads checked).
//
// Ownership: Sandbox owns the thread that starts workers (workers die with it: their
// PR_SET_PDEATHSIG is tied to that thread) and must outlive every RemoteInstance. A
// RemoteInstance owns its worker process and reaps it when destroyed.
// Thread safety: Sandbox::start is safe from any thread. A RemoteInstance is used by one thread
// at a time, like any Runner.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "host/plugin.hpp"
#include "sandbox/protocol.hpp"
#include "sandbox/wire.hpp"

namespace wasimancer::sandbox {

struct SandboxConfig {
  // The program started as `PROGRAM __worker` (this one: /proc/self/exe).
  std::filesystem::path worker_program = "/proc/self/exe";
  // RLIMIT_AS of a worker: this much for the program itself, plus three times the plugin's memory
  // budget (linear memory, tables, kernel memory and the interpreter's stacks).
  uint64_t base_address_space_bytes = 1ull << 30;
  // A worker that has used this much CPU time is replaced after its call (RLIMIT_CPU, at twice
  // this, is the backstop).
  uint64_t recycle_cpu_seconds = 600;
};

class RemoteInstance;

class Sandbox {
 public:
  explicit Sandbox(SandboxConfig config = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Starts a worker and loads `request` into it (blocks until it is ready, it fails, or its
  // start-up time is up). `plugin` is the server's view of the plugin (its vars and HTTP policy
  // serve the worker's requests); it may be null for the first worker of a new version, whose
  // Ready answer describes the module: the caller then describes the plugin and calls bind().
  // Errors: what the worker reported (InvalidModule, OutOfMemory, Timeout...), or Crash.
  Result<std::unique_ptr<RemoteInstance>> start(const LoadRequest& request, std::shared_ptr<const host::CompiledPlugin> plugin,
                                                ReadyInfo* ready = nullptr);

  const SandboxConfig& config() const { return config_; }
  // Worker processes started so far (thread-safe).
  uint64_t workers_started() const { return workers_started_.load(std::memory_order_relaxed); }

 private:
  friend class RemoteInstance;
  struct Spawn;
  void spawner();
  Result<pid_t> spawn(int channel_fd, uint64_t address_space, uint64_t cpu_seconds, const std::string& label);

  SandboxConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Spawn*> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> workers_started_{0};
  std::thread thread_;
};

class RemoteInstance final : public host::Runner {
 public:
  ~RemoteInstance() override;

  host::CallOutcome call(std::string_view function, std::string_view input, const host::CallOptions& options = {}) override;
  bool reusable() const override { return alive_ && reusable_; }
  std::string tier_name() const override { return tier_; }

  void bind(std::shared_ptr<const host::CompiledPlugin> plugin) { plugin_ = std::move(plugin); }
  pid_t pid() const { return pid_; }

 private:
  friend class Sandbox;
  RemoteInstance(const Sandbox& sandbox, pid_t pid, int fd, std::string tier)
      : sandbox_(sandbox), pid_(pid), fd_(fd), reader_(fd), tier_(std::move(tier)) {}

  // Kills and reaps the worker; returns what ended it, for the error message.
  std::string end_worker();
  host::CallOutcome crashed(std::string why);
  // Serves one host request; false if it was malformed.
  bool serve_host(std::string_view payload, const host::CallOptions& options, Deadline& hard, uint64_t& log_bytes);

  const Sandbox& sandbox_;
  std::shared_ptr<const host::CompiledPlugin> plugin_;
  pid_t pid_;
  int fd_;          // non-blocking
  FrameReader reader_;
  std::string tier_;
  bool alive_ = true;
  bool reusable_ = true;
  uint32_t calls_ = 0;
  Frame frame_;     // reused
  Writer writer_;   // reused
};

}  // namespace wasimancer::sandbox
