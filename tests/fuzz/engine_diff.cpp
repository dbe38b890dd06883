#include "engine_diff.hpp"

#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <memory>

#include <fmt/format.h>

#include "engine/interp.hpp"
#include "core/subprocess.hpp"
#include "engine/module.hpp"
#include "engine/watchdog.hpp"
#include "process.hpp"
#include "spec_support.hpp"

namespace wasimancer::fuzz {

namespace fs = std::filesystem;
using namespace engine;

namespace {

std::string format_slot(ValType t, Slot v) {
  switch (t) {
    case ValType::I32: return fmt::format("i32 {}", static_cast<uint32_t>(v));
    case ValType::I64: return fmt::format("i64 {}", v);
    case ValType::F32: {
      uint32_t bits = static_cast<uint32_t>(v);
      float f;
      std::memcpy(&f, &bits, 4);
      return std::isnan(f) ? "f32 nan" : fmt::format("f32 0x{:08x}", bits);
    }
    case ValType::F64: {
      double d;
      std::memcpy(&d, &v, 8);
      return std::isnan(d) ? "f64 nan" : fmt::format("f64 0x{:016x}", v);
    }
    case ValType::FuncRef: return v ? "funcref func" : "funcref null";
    case ValType::ExternRef: return v ? fmt::format("externref {}", v) : "externref null";
    default: return fmt::format("{} {}", to_string(t), v);
  }
}

std::string format_values(const std::vector<ValType>& types, std::span<const Slot> values) {
  std::string s;
  for (size_t i = 0; i < values.size() && i < types.size(); ++i) s += (i ? ", " : "") + format_slot(types[i], values[i]);
  return s.empty() ? "()" : s;
}

std::string format_trap(const Trap& t) {
  switch (t.kind) {
    case ErrorKind::Trap: return "trap " + test::trap_class(t.message);
    case ErrorKind::Timeout: return "timeout";
    case ErrorKind::OutOfMemory: return "oom";
    default: return fmt::format("{}: {}", to_string(t.kind), t.message);
  }
}

Watchdog& watchdog() {
  static Watchdog w;
  return w;
}

// The "fuzzing-support" log functions: each call appends "<name> <values>" to the trace.
struct LogHost {
  std::vector<std::unique_ptr<HostFunc>> funcs;
  ImportTable table;

  LogHost(const Module& m, Trace* trace) {
    for (const auto& imp : m.imports()) {
      if (imp.module != "fuzzing-support" || imp.kind != ExternKind::Func || imp.name.rfind("log", 0) != 0 ||
          !imp.type.results.empty()) {
        table.push_back(nullptr);
        continue;
      }
      auto f = std::make_unique<HostFunc>();
      f->type = imp.type;
      f->fn = [trace, name = imp.name, types = imp.type.params](Caller&, std::span<const Slot> args,
                                                                  std::span<Slot>) -> HostResult {
        trace->events.push_back(name + " " + format_values(types, args));
        return std::nullopt;
      };
      table.push_back(f.get());
      funcs.push_back(std::move(f));
    }
  }
};

}  // namespace

Trace run_tier(std::span<const uint8_t> wasm, std::shared_ptr<const NativeCode> native, std::chrono::milliseconds call_timeout,
               bool compare_memory, bool keep_memory) {
  Trace trace;
  auto m = Module::compile(wasm);
  if (!m) {
    trace.events.push_back("compile: " + m.error().message);
    return trace;
  }
  LogHost host(**m, &trace);
  CallControl ctl;
  ctl.deadline = Deadline::after(call_timeout);
  InstanceLimits limits;
  limits.max_memory_pages = 1024;  // 64 MiB: binaryen's memories are small; growth past it is an oom on both
  auto r = native ? instantiate_native(*m, native, host.table, nullptr, limits, ctl, &watchdog())
                  : instantiate_interp(*m, host.table, nullptr, limits, ctl);
  if (auto* t = std::get_if<Trap>(&r)) {
    trace.events.push_back("instantiate: " + format_trap(*t));
    trace.timed_out = t->kind == ErrorKind::Timeout;
    return trace;
  }
  auto& inst = *std::get<0>(r);
  trace.events.push_back("instantiate: ok");
  const ExportDesc* hang = (*m)->find_export("hangLimitInitializer");
  for (const auto& e : (*m)->exports()) {
    if (e.kind != ExternKind::Func || e.name == "hangLimitInitializer") continue;
    const size_t start = trace.events.size();
    if (hang && hang->kind == ExternKind::Func && hang->type.params.empty()) {
      CallControl c;
      c.deadline = Deadline::after(call_timeout);
      (void)inst.call("hangLimitInitializer", {}, c);
    }
    std::vector<Slot> args(e.type.params.size(), 0);
    CallControl c;
    c.deadline = Deadline::after(call_timeout);
    CallResult cr = inst.call(e.name, args, c);
    if (auto* t = std::get_if<Trap>(&cr)) {
      trace.events.push_back(fmt::format("call {}: {}", e.name, format_trap(*t)));
      if (t->kind == ErrorKind::Timeout) {
        trace.timed_out = true;
        trace.events.resize(start + 1, "");
        trace.events[start] = fmt::format("call {}: timeout", e.name);
        return trace;
      }
    } else {
      trace.events.push_back(fmt::format("call {}: {}", e.name, format_values(e.type.results, std::get<0>(cr))));
    }
    // What the call left in memory, byte for byte (FNV-1a of the exported memory).
    auto mem = inst.memory();
    if (compare_memory) {
      uint64_t h = 1469598103934665603ull;
      for (uint8_t b : mem) h = (h ^ b) * 1099511628211ull;
      trace.events.push_back(fmt::format("memory: {} bytes, hash {:016x}", mem.size(), h));
    } else {
      trace.events.push_back(fmt::format("memory: {} bytes", mem.size()));
    }
    if (keep_memory) trace.memories[trace.events.size() - 1].assign(mem.begin(), mem.end());
  }
  return trace;
}

std::string compare_traces(const Trace& a, const Trace& b) {
  // A timeout ends a trace with "call NAME: timeout" in place of that call's events.
  size_t n = std::min(a.events.size(), b.events.size());
  if (a.timed_out || b.timed_out) {
    // Compare what both did before the call that timed out; that call and the rest are excluded.
    size_t limit = std::min(a.timed_out ? a.events.size() - 1 : a.events.size(), b.timed_out ? b.events.size() - 1 : b.events.size());
    n = std::min(n, limit);
  }
  for (size_t i = 0; i < n; ++i) {
    if (a.events[i] != b.events[i]) {
      return fmt::format("event {}: interpreter \"{}\", native \"{}\"", i, a.events[i], b.events[i]);
    }
  }
  if (!a.timed_out && !b.timed_out && a.events.size() != b.events.size()) {
    const auto& longer = a.events.size() > b.events.size() ? a : b;
    return fmt::format("event {}: only the {} has \"{}\"", n, &longer == &a ? "interpreter" : "native", longer.events[n]);
  }
  return {};
}

namespace {

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::optional<std::vector<uint8_t>> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

bool denan_seed(uint64_t seed) { return seed % 4 != 0; }

std::optional<Generated> generate_module(uint64_t seed, size_t input_bytes, const fs::path& work_dir, std::string* why) {
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  uint64_t state = seed;
  // Sizes vary with the seed: half to one and a half times input_bytes.
  size_t size = input_bytes / 2 + static_cast<size_t>(splitmix(state) % (input_bytes + 1));
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(splitmix(state));
  const fs::path in = work_dir / fmt::format("seed-{}.dat", seed);
  const fs::path out = work_dir / fmt::format("seed-{}.wasm", seed);
  {
    std::ofstream f(in, std::ios::binary);
    f << bytes;
  }
  static const std::string wasm_opt = find_program("wasm-opt");
  if (wasm_opt.empty()) {
    if (why) *why = "wasm-opt is not installed (Debian package binaryen)";
    return std::nullopt;
  }
  std::vector<std::string> base = {wasm_opt,          "--translate-to-fuzz",         in.string(),           "-o",
                                   out.string(),        "--enable-sign-ext",           "--enable-mutable-globals",
                                   "--enable-nontrapping-float-to-int", "--enable-bulk-memory", "--enable-multivalue"};
  if (denan_seed(seed)) base.push_back("--denan");
  std::vector<std::vector<std::string>> attempts;
  if (seed % 2 == 1) {
    auto with_refs = base;
    with_refs.push_back("--enable-reference-types");
    attempts.push_back(with_refs);
  }
  attempts.push_back(base);
  std::string last;
  for (const auto& argv : attempts) {
    auto r = test::run_process(argv, "", std::chrono::seconds(60));
    if (r.exit_code != 0) {
      last = fmt::format("wasm-opt failed (exit code {}): {}", r.exit_code, r.err.substr(0, 300));
      continue;
    }
    auto wasm = read_all(out);
    if (!wasm) {
      last = "wasm-opt wrote nothing";
      continue;
    }
    // binaryen 108 still types funcref as a subtype of externref with reference types on, which
    // the standard (and wabt) refuse; such a module is made again without reference types.
    auto m = Module::compile(*wasm);
    if (!m) {
      last = "generated module refused: " + m.error().message;
      continue;
    }
    fs::remove(in, ec);
    return Generated{std::move(*wasm), denan_seed(seed)};
  }
  fs::remove(in, ec);
  if (why) *why = last;
  return std::nullopt;
}

namespace {

struct Prepared {
  uint64_t seed = 0;
  std::optional<std::vector<uint8_t>> wasm;
  bool denan = false;
  std::shared_ptr<const NativeCode> native;
  std::string why;  // not compared: why
};

}  // namespace

DiffReport run_differential(const DiffOptions& o) {
  DiffReport report;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::steady_clock::now() - t0; };
  auto stop = std::make_shared<std::atomic<bool>>(false);
  NativeOptions native = o.native;
  native.cancelled = [stop, prev = o.native.cancelled] { return stop->load() || (prev && prev()); };
  auto prepare = [&o, native](uint64_t seed) {
    Prepared p;
    p.seed = seed;
    auto g = generate_module(seed, o.input_bytes, o.work_dir, &p.why);
    if (!g) return p;
    p.wasm = std::move(g->wasm);
    p.denan = g->denan;
    auto m = Module::compile(*p.wasm);
    if (!m) {
      p.why = m.error().message;
      p.wasm.reset();
      return p;
    }
    auto code = load_native(**m, native);
    if (!code) {
      p.why = "native build: " + code.error().message;
      return p;
    }
    p.native = *code;
    return p;
  };
  std::deque<std::future<Prepared>> window;
  uint64_t next = o.first_seed;
  const uint64_t end = o.first_seed + o.count;
  auto over_budget = [&] { return elapsed() >= o.budget && report.modules + window.size() >= o.min_modules; };
  auto fill = [&] {
    while (window.size() < std::max(1u, o.jobs) && next < end && !over_budget()) {
      window.push_back(std::async(std::launch::async, prepare, next++));
    }
  };
  fill();
  while (!window.empty()) {
    if (elapsed() >= o.budget && report.modules >= o.min_modules) stop->store(true);
    Prepared p = window.front().get();
    window.pop_front();
    if (stop->load()) continue;  // drain what is in flight
    fill();
    std::error_code ec;
    const fs::path file = o.work_dir / fmt::format("seed-{}.wasm", p.seed);
    if (!p.wasm) {  // binaryen made nothing usable: not a finding of ours
      ++report.skipped;
      report.notes.push_back(fmt::format("seed {}: {}", p.seed, p.why));
      fs::remove(file, ec);
      continue;
    }
    if (!p.native) {
      // A valid module within the limits that the native tier cannot build: the tiers disagree.
      const fs::path kept = o.work_dir / fmt::format("finding-seed-{}.wasm", p.seed);
      fs::rename(file, kept, ec);
      ++report.modules;
      std::string line = fmt::format("seed {}: {} (module kept as {})", p.seed, p.why, kept.string());
      report.findings.push_back(line);
      if (o.progress) o.progress(line);
      continue;
    }
    ++report.modules;
    Trace a = run_tier(*p.wasm, nullptr, o.call_timeout, p.denan);
    Trace b = run_tier(*p.wasm, p.native, o.call_timeout, p.denan);
    for (const auto& e : a.events) report.calls += e.rfind("call ", 0) == 0;
    if (a.timed_out || b.timed_out) ++report.timeouts;
    std::string diff = compare_traces(a, b);
    if (diff.empty()) {
      ++report.agreed;
      fs::remove(file, ec);
    } else {
      const fs::path kept = o.work_dir / fmt::format("finding-seed-{}.wasm", p.seed);
      fs::rename(file, kept, ec);
      std::string line = fmt::format("seed {}: {} (module kept as {})", p.seed, diff, kept.string());
      report.findings.push_back(line);
      if (o.progress) o.progress(line);
    }
  }
  report.seconds = std::chrono::duration<double>(elapsed()).count();
  if (o.progress) {
    o.progress(fmt::format("{} modules compared ({} calls) in {:.1f} s: {} agreed, {} disagreed, {} stopped at a timeout, {} skipped",
                           report.modules, report.calls, report.seconds, report.agreed, report.findings.size(),
                           report.timeouts, report.skipped));
  }
  return report;
}

}  // namespace wasimancer::fuzz
