#include "engine/native.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <pthread.h>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/subprocess.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "engine/instrument.hpp"
#include "engine/native/glue.hpp"
#include "engine/tick.hpp"
#include "engine/watchdog.hpp"
#include "engine/native/wm_native_abi.h"

namespace wasimancer::engine {

namespace native {
extern const char* const kRuntimeSource;
extern const char* const kAbiHeader;
}  // namespace native

namespace fs = std::filesystem;

namespace {

constexpr int32_t kNativeFuelRefill = 100000;
constexpr const char* kFlagsVersion = "2";

std::string pick_compiler(const NativeOptions& o) {
  if (!o.compiler.empty()) return o.compiler;
  if (const char* cc = std::getenv("CC"); cc && *cc) return cc;
  if (!find_program("clang").empty()) return "clang";
  return "cc";
}

// Identifies a tool's version cheaply (no process start on the start-up path): the resolved
// binary's path, size and modification time. Empty if the tool is missing. Memoised.
std::string tool_identity(const std::string& tool) {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(tool); it != cache.end()) return it->second;
  std::string path = find_program(tool);
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
  // -fstack-clash-protection: a frame larger than a page touches every page it allocates, so
  // it runs into the stack's guard page (a trap, see StackGuard) instead of jumping past it.
  return {o.opt_level, "-shared", "-fPIC", "-fvisibility=hidden", "-fno-strict-aliasing", "-fstack-clash-protection", "-w",
          "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0", "-DWASM_RT_USE_STACK_DEPTH_COUNT=0", "-DNDEBUG"};
}

// The native flavour of the instrumentation pass (see instrument.hpp).
InstrumentOptions native_flavour() {
  InstrumentOptions o;
  o.entry_checks = false;
  o.validate = false;   // Module::compile validated it
  o.safe_names = true;  // no name of the module's choosing reaches the generated C
  return o;
}

std::string cache_key(const ModuleInfo& m, const NativeOptions& o, const std::string& cc) {
  std::string material = m.sha256 + "|native-flavour";
  material += "|" + tool_identity("wasm2c") + "|" + cc + "|" + tool_identity(cc);
  for (const auto& f : compile_flags(o)) material += "|" + f;
  material += fmt::format("|abi{}|glue{}|pass{}|flags{}|", WM_NATIVE_ABI_VERSION, native::kGlueVersion, kInstrumentVersion,
                          kFlagsVersion);
  material += sha256_hex(std::string_view(native::kRuntimeSource)) + sha256_hex(std::string_view(native::kAbiHeader));
  return sha256_hex(material).substr(0, 32) + (o.opt_level == "-O0" ? "-O0" : o.opt_level == "-O2" ? "-O2" : "-Ox");
}

std::string tail(const std::string& s, size_t n = 1500) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

// "<tool> failed (exit code 1): <the end of its output>".
std::string failure(std::string_view tool, const SubprocessResult& r) {
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
                                                       const ModuleInfo& module) {
    void* h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return Error(ErrorKind::Internal, fmt::format("cannot load {}: {}", so.string(), dlerror()));
    std::shared_ptr<NativeCode> c(new NativeCode());
    c->handle_ = h;
    c->description_ = std::move(description);
    // wm_call's index of an export is its position among the module's exports (glue.hpp).
    for (size_t k = 0; k < module.exports.size(); ++k) {
      if (module.exports[k].kind == ExternKind::Func) c->exports.emplace(module.exports[k].name, static_cast<uint32_t>(k));
      if (module.exports[k].kind == ExternKind::Global) c->globals.emplace(module.exports[k].name, static_cast<uint32_t>(k));
    }
    auto sym = [&](const char* name) { return dlsym(h, name); };
    auto version = reinterpret_cast<wm_abi_version_fn>(sym("wm_abi_version"));
    auto init = reinterpret_cast<wm_init_module_fn>(sym("wm_init_module"));
    c->size_ = reinterpret_cast<wm_instance_size_fn>(sym("wm_instance_size"));
    c->instantiate_ = reinterpret_cast<wm_instantiate_fn>(sym("wm_instantiate"));
    c->free_ = reinterpret_cast<wm_free_fn>(sym("wm_free"));
    c->memory_ = reinterpret_cast<wm_memory_fn>(sym("wm_memory"));
    c->call_ = reinterpret_cast<wm_call_fn>(sym("wm_call"));
    c->global_ = reinterpret_cast<wm_global_fn>(sym("wm_global"));
    c->interrupt_ = reinterpret_cast<wm_interrupt_fn>(sym("wm_interrupt"));
    c->arm_ = reinterpret_cast<wm_arm_fn>(sym("wm_arm"));
    c->stack_overflow_ = reinterpret_cast<wm_stack_overflow_fn>(sym("wm_stack_overflow"));
    if (!version || !init || !c->size_ || !c->instantiate_ || !c->free_ || !c->memory_ || !c->call_ || !c->global_ || !c->interrupt_ ||
        !c->arm_ || !c->stack_overflow_) {
      return Error(ErrorKind::Internal, fmt::format("{} lacks the native tier's entry points", so.string()));
    }
    if (version() != WM_NATIVE_ABI_VERSION) {
      return Error(ErrorKind::Internal, fmt::format("{} was built for another native ABI", so.string()));
    }
    init();  // registers the function types: once, before any instance exists
    return std::shared_ptr<const NativeCode>(std::move(c));
  }

  std::unordered_map<std::string, uint32_t> exports;  // export name -> wm_call's index
  std::unordered_map<std::string, uint32_t> globals;  // export name -> wm_global's index
  std::string description_;
  void* handle_ = nullptr;
  wm_instance_size_fn size_ = nullptr;
  wm_instantiate_fn instantiate_ = nullptr;
  wm_free_fn free_ = nullptr;
  wm_memory_fn memory_ = nullptr;
  wm_call_fn call_ = nullptr;
  wm_global_fn global_ = nullptr;
  wm_interrupt_fn interrupt_ = nullptr;
  wm_arm_fn arm_ = nullptr;
  wm_stack_overflow_fn stack_overflow_ = nullptr;

 private:
  NativeCode() = default;
};

std::string native_description(const NativeCode& code) { return code.description_; }

bool native_cached(const ModuleInfo& info, const NativeOptions& options) {
  std::error_code ec;
  return fs::exists(native_cache_path(info, options) / "plugin.so", ec);
}

fs::path native_cache_path(const ModuleInfo& info, const NativeOptions& options) {
  return options.cache_dir / cache_key(info, options, pick_compiler(options));
}

namespace {
struct ThreadStack;
const ThreadStack& prepare_thread();
}  // namespace

std::string native_description(const NativeOptions& options) {
  return fmt::format("native ({} {})", fs::path(pick_compiler(options)).filename().string(), options.opt_level);
}

void prepare_native_thread() { (void)prepare_thread(); }

Result<std::shared_ptr<const NativeCode>> open_native(const NativeBuild& build, const ModuleInfo& info) {
  return NativeCode::open(build.library, build.description, info);
}

Result<std::shared_ptr<const NativeCode>> load_native(const Module& module, const NativeOptions& options) {
  auto b = build_native(module.original(), module.info(), options);
  if (!b) return b.take_error();
  return open_native(*b, module.info());
}

int instrument_native_command(const fs::path& in, const fs::path& out) {
  auto wasm = read_file(in);
  if (!wasm) {
    std::fprintf(stderr, "%s\n", wasm.error().message.c_str());
    return 1;
  }
  InstrumentOptions o = native_flavour();
  o.validate = true;  // this process trusts nothing it is given
  auto r = instrument(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wasm->data()), wasm->size()), o);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  auto w = write_file_atomic(out, std::string_view(reinterpret_cast<const char*>(r->wasm.data()), r->wasm.size()));
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  return 0;
}

Result<NativeBuild> build_native(std::span<const uint8_t> wasm, const ModuleInfo& info, const NativeOptions& options) {
  // The host links only functions: a module importing anything else could never be instantiated
  // (the interpreter refuses it at instantiation with the same words), so it is not built.
  for (const auto& imp : info.imports) {
    if (imp.kind != ExternKind::Func) {
      return Error(ErrorKind::InvalidModule, fmt::format("import \"{}\".\"{}\" is a {}; the host provides only functions",
                                                         imp.module, imp.name, to_string(imp.kind)));
    }
  }
  std::string cc = pick_compiler(options);
  std::string description = native_description(options);
  if (tool_identity("wasm2c").empty()) return Error(ErrorKind::Internal, "wasm2c is not installed (Debian package wabt)");
  if (tool_identity(cc).empty()) return Error(ErrorKind::Internal, fmt::format("the C compiler \"{}\" is not available", cc));
  const fs::path final_dir = options.cache_dir / cache_key(info, options, cc);
  std::error_code ec;
  if (fs::exists(final_dir / "plugin.so", ec)) return NativeBuild{final_dir / "plugin.so", description};

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

  auto t0 = std::chrono::steady_clock::now();
  SubprocessLimits limits;
  limits.timeout = options.timeout;
  limits.address_space_bytes = options.memory_limit_bytes;
  limits.cpu_seconds = static_cast<uint64_t>(options.timeout.count()) + 1;
  limits.nice = options.nice;
  auto cancelled = [&] { return options.cancelled && options.cancelled(); };
  auto remaining = [&] {
    auto left = options.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    return std::max<std::chrono::milliseconds>(left, std::chrono::seconds(1));
  };
  if (options.instrument_tool.empty()) {
    auto flavoured = instrument(wasm, native_flavour());
    if (!flavoured) return flavoured.take_error();
    std::string_view bytes(reinterpret_cast<const char*>(flavoured->wasm.data()), flavoured->wasm.size());
    if (auto r = write_file_atomic(work / "m.wasm", bytes); !r) return r.take_error();
  } else {
    std::string_view bytes(reinterpret_cast<const char*>(wasm.data()), wasm.size());
    if (auto r = write_file_atomic(work / "in.wasm", bytes); !r) return r.take_error();
    // The tool is this program: a sanitizer build of it cannot start under an address-space limit.
    SubprocessLimits own = limits;
    if (!kAddressSpaceLimits) own.address_space_bytes = 0;
    auto ir = run_supervised({options.instrument_tool.string(), "__instrument-native", "in.wasm", "m.wasm"}, work, own, cancelled);
    if (ir.cancelled) return Error(ErrorKind::Cancelled, "the native build was cancelled");
    if (ir.timed_out) return Error(ErrorKind::Timeout, "the instrumentation pass took longer than the time limit");
    if (ir.exit_code != 0) return Error(ErrorKind::Internal, failure("the instrumentation pass", ir));
    fs::remove(work / "in.wasm", ec);
  }
  limits.timeout = remaining();
  auto w2c = run_supervised({"wasm2c", "-n", "m", "m.wasm", "-o", "m.c"}, work, limits, cancelled);
  if (w2c.cancelled) return Error(ErrorKind::Cancelled, "the native build was cancelled");
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
  auto glue = native::generate_glue(*header, info.imports.size());
  if (!glue) return glue.take_error();
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"glue.c", glue->source},
                            {"wm_rt.c", native::kRuntimeSource}, {"wm_native_abi.h", native::kAbiHeader}}) {
    if (auto r = write_file_atomic(work / name, text); !r) return r.take_error();
  }
  std::vector<std::string> cmd = {cc};
  for (const auto& f : compile_flags(options)) cmd.push_back(f);
  cmd.insert(cmd.end(), {"-I.", "glue.c", "-o", "plugin.so", "-lm"});
  limits.timeout = remaining();
  auto ccr = run_supervised(cmd, work, limits, cancelled);
  if (ccr.cancelled) return Error(ErrorKind::Cancelled, "the native build was cancelled");
  if (ccr.timed_out) return Error(ErrorKind::Timeout, fmt::format("{} took longer than the time limit", cc));
  if (ccr.exit_code != 0) return Error(ErrorKind::Internal, failure(cc, ccr));
  // Keep only what loading needs, then publish the directory with one rename.
  // (WASIMANCER_NATIVE_KEEP_SOURCES=1 keeps the generated C, to read or debug it.)
  if (!std::getenv("WASIMANCER_NATIVE_KEEP_SOURCES")) {
    for (const char* f : {"m.wasm", "m.c", "m.h", "glue.c", "wm_rt.c", "wm_native_abi.h"}) fs::remove(work / f, ec);
  }
  fs::rename(work, final_dir, ec);
  if (ec && !fs::exists(final_dir / "plugin.so")) {
    return Error(ErrorKind::Io, fmt::format("cannot store the build in {}: {}", final_dir.string(), ec.message()));
  }
  return NativeBuild{final_dir / "plugin.so", description};
}


namespace {

// ---- the stack guard --------------------------------------------------------------------------
// Function entries compare the stack pointer with a limit a margin above the thread's stack
// bottom. A frame larger than that margin (clang at -O0 can make frames of megabytes from one
// large function) would run past it: built with -fstack-clash-protection, it touches every page
// it allocates, so it faults in the guard region below the stack instead of jumping over it.
// The SIGSEGV/SIGBUS handler, on an alternate signal stack, turns a fault in the guard region of
// a thread that is running native wasm into a WM_TRAP_EXHAUSTION trap of that call (the plugin's
// wm_stack_overflow longjmps to the call's entry point). Any other fault is left to the previous
// disposition: the handler restores it and returns, and the fault repeats.

struct ThreadStack {
  uintptr_t low = 0;    // the lowest usable stack address
  uintptr_t limit = 0;  // what function entries compare with: low + a margin for host calls
};

thread_local wm_stack_overflow_fn t_overflow = nullptr;  // set while native wasm runs on this thread
thread_local ThreadStack t_stack;
struct sigaction g_previous_segv, g_previous_bus;

void on_fault(int sig, siginfo_t* info, void*) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  constexpr uintptr_t kGuardReach = 1u << 20;  // glibc's guard page, or the kernel's stack gap
  if (t_overflow && t_stack.low && addr < t_stack.low && addr + kGuardReach >= t_stack.low) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    wm_stack_overflow_fn overflow = t_overflow;
    t_overflow = nullptr;
    overflow();  // does not return
  }
  sigaction(sig, sig == SIGSEGV ? &g_previous_segv : &g_previous_bus, nullptr);
  // A fault repeats once the handler returns; a signal sent by kill() does not: send it again.
  if (info->si_code <= 0) raise(sig);
}

// Once per thread that runs native wasm: its stack bounds and an alternate signal stack.
const ThreadStack& prepare_thread() {
  static std::once_flag handler_once;
  std::call_once(handler_once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous_segv);
    sigaction(SIGBUS, &sa, &g_previous_bus);
  });
  struct AltStack {
    void* mem = nullptr;
    size_t size = 0;
    AltStack() {
      size = 64 * 1024;
      mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) {
        mem = nullptr;
        return;
      }
      stack_t ss{};
      ss.ss_sp = mem;
      ss.ss_size = size;
      sigaltstack(&ss, nullptr);
      pthread_attr_t attr;
      void* addr = nullptr;
      size_t stack_size = 0;
      if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &stack_size);
        pthread_attr_destroy(&attr);
      }
      size_t margin = std::max<size_t>(256 * 1024, stack_size / 8);
      if (stack_size > margin) {
        t_stack.low = reinterpret_cast<uintptr_t>(addr);
        t_stack.limit = t_stack.low + margin;
      }
    }
    ~AltStack() {
      if (!mem) return;
      stack_t ss{};
      ss.ss_flags = SS_DISABLE;
      sigaltstack(&ss, nullptr);
      munmap(mem, size);
    }
  };
  thread_local AltStack alt;
  return t_stack;
}

// Runs `fn` with the stack guard armed for `code` on this thread.
// Nested calls (a host function calling another native instance) restore the outer call's guard.
template <typename F>
int guarded(const NativeCode& code, F&& fn) {
  wm_stack_overflow_fn outer = t_overflow;
  t_overflow = code.stack_overflow_;
  int rc = fn();
  t_overflow = outer;
  return rc;
}

}  // namespace

// ---- NativeInstance -------------------------------------------------------------------------------

namespace {

class NativeInstance final : public Instance, public Caller {
 public:
  NativeInstance(std::shared_ptr<const Module> module, std::shared_ptr<const NativeCode> code, const ImportTable& imports,
                 void* user, Watchdog* watchdog)
      : module_(std::move(module)), code_(std::move(code)), imports_(imports), user_(user), watchdog_(watchdog) {
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
    ctx_.max_table_elements = limits.max_table_elements;
    ctx_.stack_limit = prepare_thread().limit;
    control_ = &control;
    watch(control);
    int rc = guarded(*code_, [&] { return code_->instantiate_(storage_.get(), &ctx_); });
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
    for (size_t i = 0; i < args.size(); ++i) {
      if (desc->type.params[i] == ValType::FuncRef && args[i] != 0) {
        return Trap{ErrorKind::InvalidArgument,
                    fmt::format("function \"{}\": argument {} is a funcref; the host can pass only null", name, i),
                    std::nullopt};
      }
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
    // One slot per result (wm_call writes them all).
    std::vector<Slot> out(desc->type.results.size(), 0);
    Slot spare = 0;
    Slot* r = out.empty() ? &spare : out.data();
    ctx_.stack_limit = prepare_thread().limit;
    control_ = &control;
    pending_.reset();
    watch(control);
    int rc = guarded(*code_, [&] { return code_->call_(storage_.get(), &ctx_, it->second, a, r); });
    unwatch();
    if (rc != WM_OK) {
      Trap t = trap_for(rc, "call");
      control_ = nullptr;
      return t;
    }
    control_ = nullptr;
    for (size_t i = 0; i < out.size(); ++i) {
      if (desc->type.results[i] == ValType::I32 || desc->type.results[i] == ValType::F32) out[i] &= 0xffffffffu;
    }
    return out;
  }

  std::optional<Slot> global(std::string_view name) override {
    auto it = code_->globals.find(std::string(name));
    if (it == code_->globals.end()) return std::nullopt;
    Slot v = 0;
    if (!code_->global_(storage_.get(), it->second, &v)) return std::nullopt;
    return v;
  }

  std::span<uint8_t> memory() override {
    if (!module_->memory()) return {};  // host functions see only a memory exported as "memory"
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
    if ((!control.deadline.is_set() && !control.cancel) || !watchdog_) return;
    watched_deadline_ = control.deadline;
    watch_id_ = watchdog_->add(control.deadline, control.cancel, [this] { code_->interrupt_(storage_.get()); });
  }

  void unwatch() {
    if (watch_id_) watchdog_->remove(watch_id_);
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
      if (cancelled) return Trap{ErrorKind::Cancelled, "cancelled: the call was cancelled", std::nullopt};
      return Trap{ErrorKind::Timeout, "timeout: the call exceeded its time limit", std::nullopt};
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
      self->watchdog_->update(self->watch_id_, self->watched_deadline_,
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
  Watchdog* watchdog_;
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
                                                                 const CallControl& control, Watchdog* watchdog) {
  auto inst = std::make_unique<NativeInstance>(std::move(module), std::move(code), imports, user_data, watchdog);
  if (auto trap = inst->init(limits, control)) return std::move(*trap);
  return std::unique_ptr<Instance>(std::move(inst));
}

}  // namespace wasimancer::engine
