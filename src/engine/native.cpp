#include "engine/native.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <pthread.h>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "engine/instrument.hpp"
#include "engine/native/glue.hpp"
#include "engine/tick.hpp"
#include "engine/native/wm_native_abi.h"

namespace wasimancer::engine {

namespace native {
extern const char* const kRuntimeSource;
extern const char* const kAbiHeader;
}  // namespace native

namespace fs = std::filesystem;

namespace {

constexpr int32_t kNativeFuelRefill = 100000;
constexpr const char* kFlagsVersion = "1";

struct ProcessResult {
  int exit_code = -1;  // -1: it could not be started, or a signal ended it
  int signal = 0;      // the signal that ended it
  bool timed_out = false;
  std::string output;  // stdout + stderr, truncated
};

// Runs argv with resource limits; `dir` is the working directory. The process group is killed
// when the time is up or `cancel` is set, and the child dies with its parent thread.
ProcessResult run_limited(const std::vector<std::string>& argv, const fs::path& dir, std::chrono::seconds timeout,
                          uint64_t memory_limit, const std::atomic<bool>* cancel = nullptr) {
  ProcessResult r;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    r.output = fmt::format("pipe: {}", std::strerror(errno));
    return r;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string cwd = dir.string();
  pid_t pid = fork();
  if (pid < 0) {
    r.output = fmt::format("fork: {}", std::strerror(errno));
    close(pipefd[0]);
    close(pipefd[1]);
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    rlimit as{memory_limit, memory_limit};
    setrlimit(RLIMIT_AS, &as);
    rlimit cpu{static_cast<rlim_t>(timeout.count()), static_cast<rlim_t>(timeout.count() + 5)};
    setrlimit(RLIMIT_CPU, &cpu);
    rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    (void)nice(19);  // never slow down the calls being served
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  auto drain = [&] {  // keeps the first 64 KiB of output
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) {
      if (r.output.size() < 64 * 1024) r.output.append(buf, static_cast<size_t>(n));
    }
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    drain();
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    bool cancelled = cancel && cancel->load();
    if (cancelled || std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  drain();
  close(pipefd[0]);
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (!r.timed_out && WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

// Where `prog` is on PATH ("" if nowhere).
std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return access(prog.c_str(), X_OK) == 0 ? prog : "";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && access((dir + "/" + prog).c_str(), X_OK) == 0) return dir + "/" + prog;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

std::string pick_compiler(const NativeOptions& o) {
  if (!o.compiler.empty()) return o.compiler;
  if (const char* cc = std::getenv("CC"); cc && *cc) return cc;
  if (!which("clang").empty()) return "clang";
  return "cc";
}

// Identifies a tool's version cheaply (no process start on the start-up path): the resolved
// binary's path, size and modification time. Empty if the tool is missing. Memoised.
std::string tool_identity(const std::string& tool) {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(tool); it != cache.end()) return it->second;
  std::string path = which(tool);
  std::string id;
  if (!path.empty()) {
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    if (!ec) {
      auto size = fs::file_size(real, ec);
      auto mtime = fs::last_write_time(real, ec).time_since_epoch().count();
      id = fmt::format("{}:{}:{}", real.string(), size, mtime);
    }
  }
  cache[tool] = id;
  return id;
}

std::vector<std::string> compile_flags(const NativeOptions& o) {
  return {o.opt_level, "-shared", "-fPIC", "-fvisibility=hidden", "-fno-strict-aliasing", "-w",
          "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=0", "-DNDEBUG"};
}

// The native flavour of the instrumentation pass (see instrument.hpp).
InstrumentOptions native_flavour() {
  InstrumentOptions o;
  o.entry_checks = false;
  o.validate = false;  // Module::compile validated it
  return o;
}

std::string cache_key(const Module& m, const NativeOptions& o, const std::string& cc) {
  std::string material = m.sha256() + "|native-flavour";
  material += "|" + tool_identity("wasm2c") + "|" + cc + "|" + tool_identity(cc);
  for (const auto& f : compile_flags(o)) material += "|" + f;
  material += fmt::format("|abi{}|glue{}|pass{}|flags{}|", WM_NATIVE_ABI_VERSION, native::kGlueVersion, kInstrumentVersion,
                          kFlagsVersion);
  material += sha256_hex(std::string_view(native::kRuntimeSource)) + sha256_hex(std::string_view(native::kAbiHeader));
  return sha256_hex(material).substr(0, 32) + (o.opt_level == "-O0" ? "-O0" : o.opt_level == "-O2" ? "-O2" : "-Ox");
}

std::string tail(const std::string& s, size_t n = 1500) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

// "<tool> failed (exit code 1): <the end of its output>".
std::string failure(std::string_view tool, const ProcessResult& r) {
  std::string why = r.signal           ? fmt::format("killed by signal {}", r.signal)
                    : r.exit_code >= 0 ? fmt::format("exit code {}", r.exit_code)  // 127: exec failed
                                       : "it could not be started";
  return fmt::format("{} failed ({}): {}", tool, why, tail(r.output));
}

}  // namespace

// ---- NativeCode -----------------------------------------------------------------------------------

class NativeCode {
 public:
  ~NativeCode() {
    if (handle_) dlclose(handle_);
  }

  static Result<std::shared_ptr<const NativeCode>> open(const fs::path& so, std::string description,
                                                       const std::vector<native::GlueExport>& exports) {
    void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return Error(ErrorKind::Internal, fmt::format("cannot load {}: {}", so.string(), dlerror()));
    std::shared_ptr<NativeCode> c(new NativeCode());
    c->handle_ = h;
    c->description_ = std::move(description);
    for (const auto& e : exports) c->exports.emplace(e.name, e.index);
    auto sym = [&](const char* name) { return dlsym(h, name); };
    auto version = reinterpret_cast<wm_abi_version_fn>(sym("wm_abi_version"));
    auto init = reinterpret_cast<wm_init_module_fn>(sym("wm_init_module"));
    c->size_ = reinterpret_cast<wm_instance_size_fn>(sym("wm_instance_size"));
    c->instantiate_ = reinterpret_cast<wm_instantiate_fn>(sym("wm_instantiate"));
    c->free_ = reinterpret_cast<wm_free_fn>(sym("wm_free"));
    c->memory_ = reinterpret_cast<wm_memory_fn>(sym("wm_memory"));
    c->call_ = reinterpret_cast<wm_call_fn>(sym("wm_call"));
    c->interrupt_ = reinterpret_cast<wm_interrupt_fn>(sym("wm_interrupt"));
    c->arm_ = reinterpret_cast<wm_arm_fn>(sym("wm_arm"));
    if (!version || !init || !c->size_ || !c->instantiate_ || !c->free_ || !c->memory_ || !c->call_ || !c->interrupt_ ||
        !c->arm_) {
      return Error(ErrorKind::Internal, fmt::format("{} lacks the native tier's entry points", so.string()));
    }
    if (version() != WM_NATIVE_ABI_VERSION) {
      return Error(ErrorKind::Internal, fmt::format("{} was built for another native ABI", so.string()));
    }
    init();  // registers the function types: once, before any instance exists
    return std::shared_ptr<const NativeCode>(std::move(c));
  }

  std::unordered_map<std::string, uint32_t> exports;  // export name -> wm_call's index
  std::string description_;
  void* handle_ = nullptr;
  wm_instance_size_fn size_ = nullptr;
  wm_instantiate_fn instantiate_ = nullptr;
  wm_free_fn free_ = nullptr;
  wm_memory_fn memory_ = nullptr;
  wm_call_fn call_ = nullptr;
  wm_interrupt_fn interrupt_ = nullptr;
  wm_arm_fn arm_ = nullptr;

 private:
  NativeCode() = default;
};

std::string native_description(const NativeCode& code) { return code.description_; }

namespace {

Result<std::vector<native::GlueExport>> read_exports(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return text.take_error();
  std::vector<native::GlueExport> out;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    std::string line = text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text->size() : nl + 1;
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    uint32_t index = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + tab, index);
    if (ec != std::errc() || end != line.data() + tab) {
      return Error(ErrorKind::Internal, fmt::format("{} is corrupt", file.string()));
    }
    out.push_back({line.substr(tab + 1), index});
  }
  return out;
}

Result<std::shared_ptr<const NativeCode>> open_build(const fs::path& dir, const std::string& description) {
  auto exports = read_exports(dir / "exports.txt");
  if (!exports) return exports.take_error();
  return NativeCode::open(dir / "plugin.so", description, *exports);
}

}  // namespace

bool native_cached(const Module& module, const NativeOptions& options) {
  std::string cc = pick_compiler(options);
  std::error_code ec;
  return fs::exists(options.cache_dir / cache_key(module, options, cc) / "plugin.so", ec);
}

Result<std::shared_ptr<const NativeCode>> load_native(const Module& module, const NativeOptions& options) {
  std::string cc = pick_compiler(options);
  std::string description = fmt::format("native ({} {})", fs::path(cc).filename().string(), options.opt_level);
  if (tool_identity("wasm2c").empty()) return Error(ErrorKind::Internal, "wasm2c is not installed (Debian package wabt)");
  if (tool_identity(cc).empty()) return Error(ErrorKind::Internal, fmt::format("the C compiler \"{}\" is not available", cc));
  const fs::path final_dir = options.cache_dir / cache_key(module, options, cc);
  std::error_code ec;
  if (fs::exists(final_dir / "plugin.so", ec)) return open_build(final_dir, description);

  fs::create_directories(options.cache_dir, ec);
  if (ec) return Error(ErrorKind::Io, fmt::format("cannot create {}: {}", options.cache_dir.string(), ec.message()));
  fs::path work = options.cache_dir / (".build-" + random_token(8));
  fs::create_directories(work, ec);
  if (ec) return Error(ErrorKind::Io, fmt::format("cannot create {}: {}", work.string(), ec.message()));
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(p, e);
    }
  } cleanup{work};

  auto flavoured = instrument(module.original(), native_flavour());
  if (!flavoured) return flavoured.take_error();
  std::string_view wasm(reinterpret_cast<const char*>(flavoured->wasm.data()), flavoured->wasm.size());
  if (auto r = write_file_atomic(work / "m.wasm", wasm); !r) return r.take_error();
  auto t0 = std::chrono::steady_clock::now();
  auto w2c = run_limited({"wasm2c", "-n", "m", "m.wasm", "-o", "m.c"}, work, options.timeout, options.memory_limit_bytes,
                         options.cancel);
  if (options.cancel && options.cancel->load()) return Error(ErrorKind::Timeout, "the native build was cancelled");
  if (w2c.timed_out) return Error(ErrorKind::Timeout, "wasm2c took longer than the time limit");
  if (w2c.exit_code != 0) return Error(ErrorKind::Internal, failure("wasm2c", w2c));
  auto header = read_file(work / "m.h");
  if (!header) return header.take_error();
  // Our function prologue (see native/glue.cpp) replaces wasm2c's empty one.
  {
    auto c_file = read_file(work / "m.c");
    if (!c_file) return c_file.take_error();
    const std::string empty = "#define FUNC_PROLOGUE\n";
    auto at = c_file->find(empty);
    if (at == std::string::npos || c_file->find(empty, at + 1) != std::string::npos) {
      return Error(ErrorKind::Internal, "native tier: unexpected wasm2c output (FUNC_PROLOGUE)");
    }
    c_file->replace(at, empty.size(), "#define FUNC_PROLOGUE WM_FUNC_PROLOGUE\n");
    if (auto r = write_file_atomic(work / "m.c", *c_file); !r) return r.take_error();
  }
  auto glue = native::generate_glue(*header, module.imports());
  if (!glue) return glue.take_error();
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"glue.c", glue->source},
                            {"wm_rt.c", native::kRuntimeSource}, {"wm_native_abi.h", native::kAbiHeader}}) {
    if (auto r = write_file_atomic(work / name, text); !r) return r.take_error();
  }
  std::vector<std::string> cmd = {cc};
  for (const auto& f : compile_flags(options)) cmd.push_back(f);
  cmd.insert(cmd.end(), {"-I.", "glue.c", "-o", "plugin.so", "-lm"});
  auto left = options.timeout - std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  auto ccr = run_limited(cmd, work, std::max(left, std::chrono::seconds(1)), options.memory_limit_bytes, options.cancel);
  if (options.cancel && options.cancel->load()) return Error(ErrorKind::Timeout, "the native build was cancelled");
  if (ccr.timed_out) return Error(ErrorKind::Timeout, fmt::format("{} took longer than the time limit", cc));
  if (ccr.exit_code != 0) return Error(ErrorKind::Internal, failure(cc, ccr));
  std::string exports;
  for (const auto& e : glue->exports) exports += fmt::format("{}\t{}\n", e.index, e.name);
  if (auto r = write_file_atomic(work / "exports.txt", exports); !r) return r.take_error();
  // Keep only what loading needs, then publish the directory with one rename.
  // (WASIMANCER_NATIVE_KEEP_SOURCES=1 keeps the generated C, to read or debug it.)
  if (!std::getenv("WASIMANCER_NATIVE_KEEP_SOURCES")) {
    for (const char* f : {"m.wasm", "m.c", "m.h", "glue.c", "wm_rt.c", "wm_native_abi.h"}) fs::remove(work / f, ec);
  }
  fs::rename(work, final_dir, ec);
  if (ec && !fs::exists(final_dir / "plugin.so")) {
    return Error(ErrorKind::Io, fmt::format("cannot store the build in {}: {}", final_dir.string(), ec.message()));
  }
  return open_build(final_dir, description);
}

// ---- the watchdog ---------------------------------------------------------------------------------

namespace {

// Interrupts native calls whose deadline passes or that are cancelled. One thread for the
// process; a call registers for its duration. Loops stop themselves through the fuel checks;
// this stops loop-free recursion (the function prologue's stack-limit check).
class Watchdog {
 public:
  static Watchdog& get() {
    static Watchdog* w = new Watchdog();  // never destroyed: calls may run until exit
    return *w;
  }

  uint64_t add(Deadline deadline, const std::atomic<bool>* cancel, std::function<void()> fire) {
    std::lock_guard lock(mu_);
    uint64_t id = next_++;
    entries_[id] = Entry{deadline, cancel, std::move(fire), false};
    if (cancel || (deadline.is_set() && deadline.remaining() < kMaxSleep)) cv_.notify_one();
    return id;
  }

  // The deadline moved (time spent waiting on a client is not counted): un-interrupt the call if
  // the watchdog fired meanwhile. Runs on the call's thread, between wasm frames.
  void update(uint64_t id, Deadline deadline, const std::function<void()>& rearm) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    it->second.deadline = deadline;
    bool cancelled = it->second.cancel && it->second.cancel->load();
    if (it->second.fired && !deadline.expired() && !cancelled) {
      rearm();
      it->second.fired = false;
    }
  }

  void remove(uint64_t id) {
    std::lock_guard lock(mu_);
    entries_.erase(id);
  }

 private:
  static constexpr std::chrono::milliseconds kMaxSleep{50};
  struct Entry {
    Deadline deadline;
    const std::atomic<bool>* cancel;
    std::function<void()> fire;
    bool fired;
  };

  Watchdog() { std::thread([this] { run(); }).detach(); }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      auto wake = Clock::now() + kMaxSleep;
      for (auto& [id, e] : entries_) {
        if (e.fired) continue;
        if (e.cancel) wake = std::min(wake, Clock::now() + std::chrono::milliseconds(5));
        if (e.deadline.is_set()) wake = std::min(wake, e.deadline.at());
      }
      cv_.wait_until(lock, wake);
      for (auto& [id, e] : entries_) {
        if (e.fired) continue;
        if (e.deadline.expired() || (e.cancel && e.cancel->load())) {
          e.fire();
          e.fired = true;
        }
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 1;
};

// The lowest stack address a wasm frame may use on this thread: the thread's stack bottom plus
// a margin for host functions called from wasm (HTTP, WASI) and for the trap path.
uintptr_t thread_stack_limit() {
  thread_local uintptr_t limit = [] {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return uintptr_t(0);
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    size_t margin = std::max<size_t>(256 * 1024, size / 8);
    return size > margin ? reinterpret_cast<uintptr_t>(addr) + margin : uintptr_t(0);
  }();
  return limit;
}

}  // namespace

// ---- NativeInstance -------------------------------------------------------------------------------

namespace {

class NativeInstance final : public Instance, public Caller {
 public:
  NativeInstance(std::shared_ptr<const Module> module, std::shared_ptr<const NativeCode> code, const ImportTable& imports,
                 void* user)
      : module_(std::move(module)), code_(std::move(code)), imports_(imports), user_(user) {
    ctx_.host_call = &NativeInstance::host_call;
    ctx_.host = this;
    storage_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, ((code_->size_() + 63) / 64) * 64)));
  }

  ~NativeInstance() override {
    if (instantiated_) code_->free_(storage_.get());
  }

  std::optional<Trap> init(const InstanceLimits& limits, const CallControl& control) {
    for (size_t i = 0; i < module_->imports().size(); ++i) {
      const auto& want = module_->imports()[i];
      if (i >= imports_.size() || !imports_[i] || !(imports_[i]->type == want.type)) {
        return Trap{ErrorKind::InvalidModule, fmt::format("import \"{}\".\"{}\" is not provided", want.module, want.name), std::nullopt};
      }
    }
    ctx_.max_pages = limits.max_memory_pages;
    ctx_.stack_limit = thread_stack_limit();
    control_ = &control;
    watch(control);
    int rc = code_->instantiate_(storage_.get(), &ctx_);
    unwatch();
    instantiated_ = true;  // free even a half-built instance (its memories may exist)
    std::optional<Trap> t;
    if (rc != WM_OK) t = trap_for(rc, "instantiation");
    control_ = nullptr;
    return t;
  }

  CallResult call(std::string_view name, std::span<const Slot> args, const CallControl& control) override {
    auto it = code_->exports.find(std::string(name));
    const ExportDesc* desc = module_->find_export(name);
    if (it == code_->exports.end() || !desc || desc->kind != ExternKind::Func) {
      return Trap{ErrorKind::NotFound, fmt::format("function \"{}\" does not exist", name), std::nullopt};
    }
    if (args.size() != desc->type.params.size()) {
      return Trap{ErrorKind::InvalidArgument,
                  fmt::format("function \"{}\" takes {} arguments, {} given", name, desc->type.params.size(), args.size()),
                  std::nullopt};
    }
    Slot in[16] = {};
    std::vector<Slot> big;
    const Slot* a = in;
    if (args.size() > 16) {
      big.assign(args.begin(), args.end());
      a = big.data();
    } else {
      std::copy(args.begin(), args.end(), in);
    }
    Slot result = 0;
    ctx_.stack_limit = thread_stack_limit();
    control_ = &control;
    pending_.reset();
    watch(control);
    int rc = code_->call_(storage_.get(), &ctx_, it->second, a, &result);
    unwatch();
    if (rc != WM_OK) {
      Trap t = trap_for(rc, "call");
      control_ = nullptr;
      return t;
    }
    control_ = nullptr;
    std::vector<Slot> out;
    if (!desc->type.results.empty()) {
      Slot v = result;
      if (desc->type.results[0] == ValType::I32 || desc->type.results[0] == ValType::F32) v &= 0xffffffffu;
      out.push_back(v);
    }
    return out;
  }

  std::span<uint8_t> memory() override {
    uint8_t* data = nullptr;
    uint64_t size = 0;
    if (!code_->memory_(storage_.get(), &data, &size)) return {};
    return {data, static_cast<size_t>(size)};
  }
  void* user_data() override { return user_; }
  const Module& module() const override { return *module_; }
  std::string_view tier_name() const override { return code_->description_; }

 private:
  void watch(const CallControl& control) {
    if (!control.deadline.is_set() && !control.cancel) return;
    watched_deadline_ = control.deadline;
    watch_id_ = Watchdog::get().add(control.deadline, control.cancel, [this] { code_->interrupt_(storage_.get()); });
  }

  void unwatch() {
    if (watch_id_) Watchdog::get().remove(watch_id_);
    watch_id_ = 0;
  }

  Trap trap_for(int rc, std::string_view during) {
    if (rc == WM_TRAP_HOST && pending_) {
      Trap t = std::move(*pending_);
      pending_.reset();
      return t;
    }
    if (rc == WM_TRAP_INTERRUPTED) {
      bool cancelled = control_ ? (control_->cancel && control_->cancel->load()) : false;
      return Trap{ErrorKind::Timeout, cancelled ? "timeout: the call was cancelled" : "timeout: the call exceeded its time limit",
                  std::nullopt};
    }
    switch (rc) {
      case WM_TRAP_OOM:
        return Trap{ErrorKind::OutOfMemory, "oom: a memory or table exceeded the plugin's memory limit", std::nullopt};
      case WM_TRAP_OOB: return Trap{ErrorKind::Trap, "wasm trap: out of bounds memory access", std::nullopt};
      case WM_TRAP_INT_OVERFLOW: return Trap{ErrorKind::Trap, "wasm trap: integer overflow", std::nullopt};
      case WM_TRAP_DIV_BY_ZERO: return Trap{ErrorKind::Trap, "wasm trap: integer divide by zero", std::nullopt};
      case WM_TRAP_INVALID_CONVERSION: return Trap{ErrorKind::Trap, "wasm trap: invalid conversion to integer", std::nullopt};
      case WM_TRAP_UNREACHABLE: return Trap{ErrorKind::Trap, "wasm trap: unreachable", std::nullopt};
      case WM_TRAP_CALL_INDIRECT: return Trap{ErrorKind::Trap, "wasm trap: indirect call to an uninitialized table element or with a mismatched signature", std::nullopt};
      case WM_TRAP_EXHAUSTION: return Trap{ErrorKind::Trap, "wasm trap: call stack exhausted", std::nullopt};
      default: return Trap{ErrorKind::Trap, fmt::format("wasm trap (code {}) during {}", rc, during), std::nullopt};
    }
  }

  static int host_call(wm_ctx* ctx, uint32_t index, const uint64_t* args, uint64_t* results) {
    auto* self = static_cast<NativeInstance*>(ctx->host);
    if (index == native::kTickImport) return self->tick(static_cast<int32_t>(args[0]), results);
    const HostFunc* f = self->imports_[index];
    HostResult r = f->fn(*self, std::span<const Slot>(args, f->type.params.size()),
                         std::span<Slot>(results, f->type.results.size()));
    // A host function may move the deadline (time spent waiting on the client): tell the watchdog.
    if (self->watch_id_ && self->control_ && self->control_->deadline.at() != self->watched_deadline_.at()) {
      self->watched_deadline_ = self->control_->deadline;
      Watchdog::get().update(self->watch_id_, self->watched_deadline_,
                             [self] { self->code_->arm_(self->storage_.get(), &self->ctx_); });
    }
    if (r) {
      self->pending_ = std::move(*r);
      return 1;
    }
    return 0;
  }

  int tick(int32_t reason, uint64_t* results) {
    pending_ = tick_trap(reason, control_);
    if (pending_) return 1;
    results[0] = static_cast<uint32_t>(kNativeFuelRefill);
    return 0;
  }

  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };

  std::shared_ptr<const Module> module_;
  std::shared_ptr<const NativeCode> code_;
  ImportTable imports_;
  void* user_;
  wm_ctx ctx_{};
  std::unique_ptr<uint8_t, FreeDeleter> storage_;
  bool instantiated_ = false;
  const CallControl* control_ = nullptr;
  std::optional<Trap> pending_;
  uint64_t watch_id_ = 0;
  Deadline watched_deadline_;
};

}  // namespace

std::variant<std::unique_ptr<Instance>, Trap> instantiate_native(std::shared_ptr<const Module> module,
                                                                 std::shared_ptr<const NativeCode> code,
                                                                 const ImportTable& imports, void* user_data,
                                                                 const InstanceLimits& limits,
                                                                 const CallControl& control) {
  auto inst = std::make_unique<NativeInstance>(std::move(module), std::move(code), imports, user_data);
  if (auto trap = inst->init(limits, control)) return std::move(*trap);
  return std::unique_ptr<Instance>(std::move(inst));
}

}  // namespace wasimancer::engine
