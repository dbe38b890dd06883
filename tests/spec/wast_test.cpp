// The official WebAssembly spec test suite (../shared/wasm-spec-testsuite, converted in the build
// by wast2json into BUILD/spec-corpus), run through the engine API on the tier under test
// (WASIMANCER_TIER=native for the native tier, as scripts/run-tests.sh runs it a second time).
//
// One test per .wast file. Every command is checked: module (compiles and instantiates),
// assert_return (results, NaN canonical/arithmetic included), assert_trap (a trap of the expected
// class), assert_exhaustion, assert_invalid, assert_malformed, assert_unlinkable,
// assert_uninstantiable, action (invoke and get). What the server does not do by design is
// listed in tests/spec/exceptions.txt, one reason per entry; an assertion that falls into a
// category not listed there for its file fails the test, and so does a file entry that is no
// longer needed. tests/spec/README.md says more.
//
// The native tier builds every module of the selected files in parallel (WASIMANCER_SPEC_JOBS
// threads, default: the number of cores) ahead of the runs; builds are cached by content hash in
// WASIMANCER_NATIVE_CACHE (BUILD/native-cache under scripts/run-tests.sh), so a second run
// builds nothing. WASIMANCER_SPEC_FILES (comma-separated names, e.g. "i32,call") limits the files.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "engine/interp.hpp"
#include "engine/module.hpp"
#include "engine/native.hpp"
#include "engine/watchdog.hpp"
#include "engine_helpers.hpp"
#include "spec_support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace wasimancer;
using namespace wasimancer::engine;
using namespace std::chrono_literals;

namespace {

fs::path corpus_dir() {
  if (const char* e = std::getenv("WASIMANCER_SPEC_CORPUS")) return e;
  return WASIMANCER_SPEC_CORPUS;
}

// Our own .wast files (tests/spec/regressions: what the fuzzer or the suite found), converted in
// the build like the corpus; they run whether or not ../shared is there.
fs::path regressions_dir() { return WASIMANCER_SPEC_REGRESSIONS; }

// A script to run: its folder (NAME/NAME.json and the modules) and NAME.
struct Script {
  fs::path dir;
  std::string name;
};
std::ostream& operator<<(std::ostream& os, const Script& s) { return os << s.name; }

fs::path exceptions_file() {
  if (const char* e = std::getenv("WASIMANCER_SPEC_EXCEPTIONS")) return e;
  return WASIMANCER_SPEC_EXCEPTIONS;
}

const char* tier_label() { return test::native_tier() ? "native" : "interpreter"; }

// On the native tier, WASIMANCER_SPEC_SUBSET names a list of spec files (tests/spec/native_subset.txt,
// as scripts/run-tests.sh sets it): the others are skipped. nullopt: every file.
std::optional<std::set<std::string>> native_subset() {
  const char* path = std::getenv("WASIMANCER_SPEC_SUBSET");
  if (!test::native_tier() || !path || !*path) return std::nullopt;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(std::string("cannot read WASIMANCER_SPEC_SUBSET ") + path);
  std::set<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.insert(line);
  }
  return out;
}

// The scripts of `dir`: every converted .wast (a folder NAME with NAME.json), or those named in
// WASIMANCER_SPEC_FILES.
std::vector<Script> scripts_in(const fs::path& dir) {
  std::vector<Script> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (fs::exists(e.path() / (name + ".json"))) out.push_back({e.path(), name});
  }
  std::sort(out.begin(), out.end(), [](const Script& a, const Script& b) { return a.name < b.name; });
  if (const char* only = std::getenv("WASIMANCER_SPEC_FILES"); only && *only) {
    std::set<std::string> want;
    std::stringstream ss(only);
    std::string item;
    while (std::getline(ss, item, ',')) want.insert(item);
    std::erase_if(out, [&](const Script& f) { return !want.count(f.name); });
  }
  return out;
}

json::value read_script(const Script& script) {
  std::ifstream in(script.dir / (script.name + ".json"));
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string str(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  if (!o) return {};
  auto it = o->find(key);
  if (it == o->end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

// ---- the native builds: every module of the selected files, in parallel, ahead of the runs ----

class NativeBuilds {
 public:
  static NativeBuilds& get() {
    static NativeBuilds b;
    return b;
  }

  // Queues a build of `m` (once per module content).
  void want(const std::shared_ptr<const Module>& m) {
    std::lock_guard lock(mu_);
    if (builds_.count(m->sha256())) return;
    auto task = std::make_shared<std::packaged_task<Result<NativeBuild>()>>([m] {
      NativeOptions o = test::test_native_options();
      o.nice = 0;  // the test waits for these builds: not after everything else on a busy machine
      return build_native(m->original(), m->info(), o);
    });
    builds_.emplace(m->sha256(), task->get_future().share());
    queue_.push_back([task] { (*task)(); });
    cv_.notify_one();
    start_locked();
  }

  // The build of `m` (waits for it; builds it now if nobody asked before).
  Result<NativeBuild> build(const std::shared_ptr<const Module>& m) {
    want(m);
    std::shared_future<Result<NativeBuild>> f;
    {
      std::lock_guard lock(mu_);
      f = builds_.at(m->sha256());
    }
    return f.get();
  }

  ~NativeBuilds() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void start_locked() {
    if (!threads_.empty()) return;
    unsigned n = std::max(1u, std::thread::hardware_concurrency());
    if (const char* e = std::getenv("WASIMANCER_SPEC_JOBS")) n = std::max(1, std::atoi(e));
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }

  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::map<std::string, std::shared_future<Result<NativeBuild>>> builds_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

std::vector<Script> all_scripts();

// Queues the native builds of every module the selected tests will instantiate, in test order.
void prefetch_native_builds() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::set<std::string> selected;  // the scripts of the tests that will run
    auto* ut = ::testing::UnitTest::GetInstance();
    for (int i = 0; i < ut->total_test_suite_count(); ++i) {
      const auto* suite = ut->GetTestSuite(i);
      for (int j = 0; j < suite->total_test_count(); ++j) {
        const auto* info = suite->GetTestInfo(j);
        if (info->should_run() && info->value_param()) selected.insert(info->value_param());
      }
    }
    const auto subset = native_subset();
    for (const auto& s : all_scripts()) {
      if (!selected.count(s.name)) continue;
      if (subset && s.dir.parent_path() == corpus_dir() && !subset->count(s.name)) continue;
      json::value script;
      try {
        script = read_script(s);
      } catch (...) {
        continue;
      }
      for (const auto& cmd : script.at("commands").as_array()) {
        std::string type = str(cmd, "type");
        if (type != "module" && type != "assert_uninstantiable" && type != "assert_unlinkable") continue;
        if (str(cmd, "module_type") == "text") continue;
        auto m = Module::compile(read_bytes(s.dir / str(cmd, "filename")));
        if (m) NativeBuilds::get().want(*m);
      }
    }
  });
}

// ---- the run of one file ----------------------------------------------------------------------

struct Outcome {
  int run = 0, passed = 0, failed = 0;
  std::map<std::string, int> skipped;  // category -> assertions
  std::vector<std::string> failures;
};

struct Totals {
  std::mutex mu;
  int files = 0;
  Outcome all;
  std::map<std::string, int> modules;  // what happened to module commands
};
Totals& totals() {
  static Totals t;
  return t;
}

// Why a module is not there to run assertions on.
struct Missing {
  std::string category;  // an exception category, or empty: a failure
  std::string why;
};

class WastRun {
 public:
  WastRun(Script script, const test::SpecExceptions& exceptions)
      : script_(std::move(script)), file_(script_.name), exceptions_(exceptions) {}

  Outcome run() {
    json::value script = read_script(script_);
    for (const auto& cmd : script.at("commands").as_array()) {
      line_ = static_cast<int>(cmd.at("line").to_number<int64_t>());
      command(cmd);
    }
    return std::move(out_);
  }

 private:
  // While an assertion on a tainted instance runs, its failure is a "register" skip.
  struct TaintScope {
    WastRun* run;
    TaintScope(WastRun* r, bool on) : run(r) { run->in_tainted_ = on; }
    ~TaintScope() { run->in_tainted_ = false; }
  };

  struct Entry {
    std::shared_ptr<Instance> instance;
    std::optional<Missing> missing;
  };

  void pass() {
    ++out_.run;
    ++out_.passed;
  }
  void fail(std::string why) {
    // A line listed in the exceptions file is skipped instead (with its category).
    if (auto cat = exceptions_.line_category(file_, line_, tier_label())) {
      skip(*cat);
      return;
    }
    if (in_tainted_) {
      skip("register");
      return;
    }
    ++out_.run;
    ++out_.failed;
    out_.failures.push_back(fmt::format("{}.wast:{}: {}", file_, line_, why));
  }
  void skip(const std::string& category) { ++out_.skipped[category]; }

  void command(const json::value& cmd) {
    const std::string type = str(cmd, "type");
    if (type == "module") return module_command(cmd);
    if (type == "register") return register_command(cmd);
    if (type == "action") return action_command(cmd, nullptr);
    if (type == "assert_return") return action_command(cmd, &cmd.at("expected").as_array());
    if (type == "assert_trap" || type == "assert_exhaustion") return trap_command(cmd);
    if (type == "assert_invalid" || type == "assert_malformed") return invalid_command(cmd, type);
    if (type == "assert_unlinkable") return unlinkable_command(cmd);
    if (type == "assert_uninstantiable") return uninstantiable_command(cmd);
    fail("unknown command " + type);
  }

  std::vector<uint8_t> module_bytes(const json::value& cmd) { return read_bytes(script_.dir / str(cmd, "filename")); }

  CallControl control() {
    CallControl c;
    c.deadline = Deadline::after(120s);  // generous: the machine may be busy; loops are not expected
    return c;
  }

  // `register`: later modules may import the instance's functions under the name given.
  void register_command(const json::value& cmd) {
    std::string name = str(cmd, "name");
    Entry e = name.empty() ? current_.value_or(Entry{nullptr, Missing{"", "no module"}})
              : named_.count(name) ? named_[name] : Entry{nullptr, Missing{"", "no module named " + name}};
    if (!e.instance) {
      if (e.missing && !e.missing->category.empty()) return skip(e.missing->category);
      return fail("register: no instance");
    }
    registered_[str(cmd, "as")] = e.instance;
    pass();
  }

  // A host function that calls `name` of a registered instance: how the host links a function
  // import to another module (the engine checks the import's type against the export's). A trap
  // in the callee is a trap of the caller.
  const HostFunc* forward(const std::shared_ptr<Instance>& callee, const std::string& name) {
    const ExportDesc* e = callee->module().find_export(name);
    if (!e || e->kind != ExternKind::Func) return nullptr;
    auto f = std::make_unique<HostFunc>();
    f->type = e->type;
    f->fn = [this, callee, name](Caller&, std::span<const Slot> args, std::span<Slot> results) -> HostResult {
      CallResult r = callee->call(name, args, control());
      if (auto* t = std::get_if<Trap>(&r)) return *t;
      const auto& v = std::get<std::vector<Slot>>(r);
      std::copy(v.begin(), v.end(), results.begin());
      return std::nullopt;
    };
    forwards_.push_back(std::move(f));
    return forwards_.back().get();
  }

  // The host's imports for `m`: spectest functions by name, functions of registered instances
  // (the engine checks the types); anything else is left unresolved.
  ImportTable imports_for(const Module& m) {
    ImportTable t;
    for (const auto& imp : m.imports()) {
      if (imp.module == "spectest") {
        t.push_back(host_.find(imp.name));
      } else if (auto it = registered_.find(imp.module); it != registered_.end() && imp.kind == ExternKind::Func) {
        t.push_back(forward(it->second, imp.name));
        linked_.push_back(it->second.get());
      } else {
        t.push_back(nullptr);
      }
    }
    return t;
  }

  // What the host cannot link, by design: a table, memory or global import. The host provides
  // only functions (the spectest module's, or another instance's). A registered instance whose
  // table, memory or global such a module would have shared is "tainted": assertions on it that
  // fail are counted in the same category (the module that would have changed it is not there).
  std::optional<Missing> unsupported_imports(const Module& m) {
    for (const auto& imp : m.imports()) {
      if (imp.kind == ExternKind::Func) continue;
      if (imp.module == "spectest") {
        return Missing{"spectest-import", fmt::format("imports the spectest {} \"{}\"", to_string(imp.kind), imp.name)};
      }
      if (auto it = registered_.find(imp.module); it != registered_.end()) {
        tainted_.insert(it->second.get());
      }
      return Missing{"register", fmt::format("imports the {} \"{}\".\"{}\" of another module", to_string(imp.kind),
                                             imp.module, imp.name)};
    }
    return std::nullopt;
  }

  // Instantiates on the tier under test: the instance, or the trap / error.
  std::variant<std::unique_ptr<Instance>, Trap> instantiate(const std::shared_ptr<const Module>& m) {
    linked_.clear();
    ImportTable imports = imports_for(*m);
    CallControl ctl = control();
    if (!test::native_tier()) return instantiate_interp(m, imports, nullptr, InstanceLimits{}, ctl);
    auto build = NativeBuilds::get().build(m);
    if (!build) return Trap{build.error().kind, "native build: " + build.error().message, std::nullopt};
    auto code = open_native(*build, m->info());
    if (!code) return Trap{code.error().kind, "native load: " + code.error().message, std::nullopt};
    return instantiate_native(m, *code, imports, nullptr, InstanceLimits{}, ctl, &watchdog());
  }

  static Watchdog& watchdog() {
    static Watchdog w;
    return w;
  }

  void module_command(const json::value& cmd) {
    Entry e;
    auto bytes = module_bytes(cmd);
    auto m = Module::compile(bytes);
    if (!m) {
      // A feature refused by design (engine/limits.hpp) is named in the error.
      if (auto feature = test::refused_feature(m.error().message)) {
        e.missing = Missing{"refused:" + *feature, m.error().message};
        skip(e.missing->category);
        count_module("refused:" + *feature);
      } else {
        e.missing = Missing{"", "the module did not compile: " + m.error().message};
        fail(e.missing->why);
        count_module("failed");
      }
    } else {
      auto unsupported = unsupported_imports(**m);
      auto r = instantiate(*m);
      if (auto* t = std::get_if<Trap>(&r)) {
        if (unsupported && t->kind == ErrorKind::InvalidModule) {
          e.missing = unsupported;  // refused as it must be; what it would have done is untested
          skip(unsupported->category);
          count_module(unsupported->category);
        } else {
          e.missing = Missing{"", "the module did not instantiate: " + t->message};
          fail(e.missing->why);
          count_module("failed");
        }
      } else if (unsupported) {
        e.missing = Missing{"", "the module instantiated although it " + unsupported->why};
        fail(e.missing->why);
        count_module("failed");
      } else {
        e.instance = std::move(std::get<0>(r));
        calls_[e.instance.get()] = linked_;
        pass();
        count_module("instantiated");
      }
    }
    current_ = e;
    std::string name = str(cmd, "name");
    if (!name.empty()) named_[name] = e;
  }

  void count_module(const std::string& what) { ++modules_[what]; }

  // The instance an action runs on, or why there is none.
  Entry target(const json::value& action) {
    std::string name = str(action, "module");
    if (name.empty()) {
      if (!current_) return Entry{nullptr, Missing{"", "no module"}};
      return *current_;
    }
    auto it = named_.find(name);
    if (it == named_.end()) return Entry{nullptr, Missing{"", "no module named " + name}};
    return it->second;
  }

  // Runs an action: the results, or a trap. `missing` is set when there is no instance.
  CallResult perform(const json::value& action, std::optional<Missing>* missing) {
    Entry e = target(action);
    if (!e.instance) {
      *missing = e.missing;
      return Trap{ErrorKind::NotFound, e.missing->why, std::nullopt};
    }
    const std::string type = str(action, "type");
    const std::string field = str(action, "field");
    if (type == "get") {
      auto v = e.instance->global(field);
      if (!v) return Trap{ErrorKind::NotFound, "no global " + field, std::nullopt};
      return std::vector<Slot>{*v};
    }
    std::vector<Slot> args;
    for (const auto& a : action.at("args").as_array()) {
      auto v = test::parse_value(a);
      if (!v) return Trap{ErrorKind::InvalidArgument, "unsupported argument " + json::serialize(a), std::nullopt};
      args.push_back(*v);
    }
    return e.instance->call(field, args, control());
  }

  // A failure on an instance whose state a module that could not be linked would have changed,
  // or that calls (through its imports) one that is.
  bool tainted(const json::value& action) {
    Entry e = target(action);
    return e.instance && tainted(e.instance.get());
  }
  bool tainted(const Instance* i) {
    if (tainted_.count(i)) return true;
    for (const Instance* callee : calls_[i]) {
      if (tainted(callee)) return true;
    }
    return false;
  }

  void action_command(const json::value& cmd, const json::array* expected) {
    std::optional<Missing> missing;
    CallResult r = perform(cmd.at("action"), &missing);
    if (missing) {
      if (!missing->category.empty()) return skip(missing->category);
      return fail("no instance: " + missing->why);
    }
    TaintScope scope(this, tainted(cmd.at("action")));
    if (auto* t = std::get_if<Trap>(&r)) return fail(fmt::format("{} trapped: {}", describe(cmd.at("action")), t->message));
    if (!expected) return pass();
    const auto& got = std::get<std::vector<Slot>>(r);
    if (got.size() != expected->size()) {
      return fail(fmt::format("{}: {} results, expected {}", describe(cmd.at("action")), got.size(), expected->size()));
    }
    for (size_t i = 0; i < got.size(); ++i) {
      if (!test::matches((*expected)[i], got[i])) {
        return fail(fmt::format("{}: result {} is {}, expected {}", describe(cmd.at("action")), i,
                                test::format_value((*expected)[i], got[i]), json::serialize((*expected)[i])));
      }
    }
    pass();
  }

  // assert_trap and assert_exhaustion: a trap (not a timeout, an oom or a host error) of the
  // expected class ("call stack exhausted" for exhaustion).
  void trap_command(const json::value& cmd) {
    std::optional<Missing> missing;
    CallResult r = perform(cmd.at("action"), &missing);
    if (missing) {
      if (!missing->category.empty()) return skip(missing->category);
      return fail("no instance: " + missing->why);
    }
    TaintScope scope(this, tainted(cmd.at("action")));
    const std::string text = str(cmd, "text");
    auto* t = std::get_if<Trap>(&r);
    if (!t) return fail(fmt::format("{} returned instead of trapping with \"{}\"", describe(cmd.at("action")), text));
    if (t->kind != ErrorKind::Trap) {
      return fail(fmt::format("{}: expected the trap \"{}\", got {}: {}", describe(cmd.at("action")), text, to_string(t->kind), t->message));
    }
    if (test::trap_class(text) != test::trap_class(t->message)) {
      return fail(fmt::format("{}: expected the trap \"{}\", got \"{}\"", describe(cmd.at("action")), text, t->message));
    }
    pass();
  }

  void invalid_command(const json::value& cmd, const std::string& type) {
    if (str(cmd, "module_type") == "text") return skip("text-format");
    auto m = Module::compile(module_bytes(cmd));
    if (m) return fail(fmt::format("{} (\"{}\"): the module compiled", type, str(cmd, "text")));
    if (m.error().kind != ErrorKind::InvalidModule) return fail("unexpected error kind: " + m.error().message);
    // Our regression scripts write "refused:FEATURE": the error must name the feature.
    const std::string text = str(cmd, "text");
    if (text.rfind("refused:", 0) == 0 && test::refused_feature(m.error().message) != text.substr(8)) {
      return fail(fmt::format("{}: expected a refusal naming \"{}\", got: {}", type, text.substr(8), m.error().message));
    }
    pass();
  }

  void unlinkable_command(const json::value& cmd) {
    auto m = Module::compile(module_bytes(cmd));
    if (!m) return fail("assert_unlinkable: the module did not compile: " + m.error().message);
    auto r = instantiate(*m);
    auto* t = std::get_if<Trap>(&r);
    if (!t) return fail(fmt::format("assert_unlinkable (\"{}\"): the module instantiated", str(cmd, "text")));
    if (t->kind != ErrorKind::InvalidModule) return fail("assert_unlinkable: not a link error: " + t->message);
    pass();
  }

  void uninstantiable_command(const json::value& cmd) {
    auto m = Module::compile(module_bytes(cmd));
    if (!m) return fail("assert_uninstantiable: the module did not compile: " + m.error().message);
    if (auto unsupported = unsupported_imports(**m)) return skip(unsupported->category);
    auto r = instantiate(*m);
    auto* t = std::get_if<Trap>(&r);
    if (!t) return fail(fmt::format("assert_uninstantiable (\"{}\"): the module instantiated", str(cmd, "text")));
    if (t->kind != ErrorKind::Trap || test::trap_class(str(cmd, "text")) != test::trap_class(t->message)) {
      return fail(fmt::format("assert_uninstantiable: expected the trap \"{}\", got {}: {}", str(cmd, "text"),
                              to_string(t->kind), t->message));
    }
    pass();
  }

  static std::string describe(const json::value& action) {
    std::string s = str(action, "type") == "get" ? "get " : "invoke ";
    s += "\"" + str(action, "field") + "\"";
    if (const auto* args = action.as_object().if_contains("args")) s += json::serialize(*args);
    return s;
  }

 public:
  std::map<std::string, int> modules_;

 private:
  Script script_;
  std::string file_;
  const test::SpecExceptions& exceptions_;
  test::SpectestHost host_;
  int line_ = 0;
  std::optional<Entry> current_;
  std::map<std::string, Entry> named_;
  std::map<std::string, std::shared_ptr<Instance>> registered_;  // register "as" -> instance
  std::set<const Instance*> tainted_;
  std::map<const Instance*, std::vector<const Instance*>> calls_;  // the instances each one imports functions from
  std::vector<const Instance*> linked_;  // those of the module being instantiated
  bool in_tainted_ = false;
  std::vector<std::unique_ptr<HostFunc>> forwards_;  // declared last: destroyed first
  Outcome out_;
};

const test::SpecExceptions& exceptions() {
  static test::SpecExceptions e = [] {
    auto r = test::SpecExceptions::load(exceptions_file());
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
  }();
  return e;
}

class Wast : public ::testing::TestWithParam<Script> {};

TEST_P(Wast, Passes) {
  const std::string file = GetParam().name;
  static const auto subset = native_subset();
  if (subset && GetParam().dir.parent_path() == corpus_dir() && !subset->count(file)) {
    GTEST_SKIP() << file << ".wast is not in the native subset (WASIMANCER_SPEC_SUBSET); make spec runs every file";
  }
  if (test::native_tier()) prefetch_native_builds();
  WastRun run(GetParam(), exceptions());
  Outcome out = run.run();
  for (const auto& f : out.failures) ADD_FAILURE() << f;
  // Every skip belongs to a category the exceptions file allows for this file and tier...
  for (const auto& [category, n] : out.skipped) {
    if (!exceptions().allows(file, category, tier_label())) {
      ADD_FAILURE() << fmt::format("{}.wast: {} assertions skipped as \"{}\", which tests/spec/exceptions.txt does not list "
                                   "for this file",
                                   file, n, category);
    }
  }
  // ...and every entry naming this file is still needed.
  for (const auto& category : exceptions().file_entries(file, tier_label())) {
    if (!out.skipped.count(category)) {
      ADD_FAILURE() << fmt::format("{}.wast: the exception \"{}\" is no longer needed; remove it from tests/spec/exceptions.txt",
                                   file, category);
    }
  }
  int skipped = 0;
  for (const auto& [c, n] : out.skipped) skipped += n;
  std::string cats;
  for (const auto& [c, n] : out.skipped) cats += fmt::format(" {}={}", c, n);
  std::printf("[spec %s] %s.wast: %d assertions, %d passed, %d failed, %d skipped%s\n", tier_label(), file.c_str(), out.run,
              out.passed, out.failed, skipped, cats.c_str());
  std::lock_guard lock(totals().mu);
  auto& t = totals();
  ++t.files;
  t.all.run += out.run;
  t.all.passed += out.passed;
  t.all.failed += out.failed;
  for (const auto& [c, n] : out.skipped) t.all.skipped[c] += n;
  for (const auto& [c, n] : run.modules_) t.modules[c] += n;
}

std::vector<Script> all_scripts() {
  auto out = scripts_in(corpus_dir());
  auto own = scripts_in(regressions_dir());
  out.insert(out.end(), own.begin(), own.end());
  return out;
}

std::string param_name(const ::testing::TestParamInfo<Script>& info) {
  std::string s = info.param.name;
  for (auto& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Spec, Wast, ::testing::ValuesIn(scripts_in(corpus_dir())), param_name);
INSTANTIATE_TEST_SUITE_P(Regressions, Wast, ::testing::ValuesIn(scripts_in(regressions_dir())), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Wast);

// Without the corpus (a clone without ../shared) the suite reports itself skipped.
TEST(SpecCorpus, Present) {
  if (scripts_in(corpus_dir()).empty()) {
    GTEST_SKIP() << "no spec corpus in " << corpus_dir() << " (../shared/wasm-spec-testsuite is missing)";
  }
  EXPECT_GT(exceptions().entries(), 0u);
}

// Prints the totals of the run (the figures the report quotes).
class Summary : public ::testing::Environment {
 public:
  void TearDown() override {
    auto& t = totals();
    if (t.files == 0) return;
    int skipped = 0;
    std::string cats;
    for (const auto& [c, n] : t.all.skipped) {
      skipped += n;
      cats += fmt::format("\n  skipped as {}: {}", c, n);
    }
    std::string mods;
    for (const auto& [c, n] : t.modules) mods += fmt::format(" {}={}", c, n);
    std::printf("[spec %s] TOTAL %d files: %d assertions run, %d passed, %d failed, %d skipped%s\n  modules:%s\n", tier_label(),
                t.files, t.all.run, t.all.passed, t.all.failed, skipped, cats.c_str(), mods.c_str());
  }
};
[[maybe_unused]] auto* const kSummary = ::testing::AddGlobalTestEnvironment(new Summary);

}  // namespace
