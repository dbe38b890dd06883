// One CompiledPlugin shared by several threads, each with its own PluginInstance (plugin.hpp:
// CompiledPlugin is safe from any thread; a PluginInstance serves one call at a time and may move
// between threads between calls). Plugins: echo.wasm, config_vars.wasm, globals.wasm.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

constexpr int kThreads = 4;

// kThreads instances of one load of plugin `name`, made up front (so failures are reported on
// the test thread); empty after a test failure. The instances keep their plugin alive.
std::vector<std::unique_ptr<PluginInstance>> instances(const std::string& name) {
  auto p = load_plugin(name);
  std::vector<std::unique_ptr<PluginInstance>> out;
  for (int t = 0; t < kThreads; ++t) {
    out.push_back(make_instance(p));
    if (!out.back()) return {};
  }
  return out;
}

// Runs fn(t) on kThreads threads started together.
template <typename Fn>
void run_threads(Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      fn(t);
    });
  }
  go = true;
  for (auto& th : threads) th.join();
}

}  // namespace

TEST(HostConcurrency, EchoOnFourInstancesOfOnePlugin) {
  auto insts = instances("echo");
  ASSERT_EQ(insts.size(), size_t(kThreads));
  constexpr int kCalls = 100;
  std::atomic<int> wrong{0}, failed{0};
  run_threads([&](int t) {
    for (int k = 0; k < kCalls; ++k) {
      // Different sizes per thread and call, some above the 64 KiB guest buffer.
      size_t n = k % 25 == 0 ? 70000 + t : (k * 997 + t * 131) % 3000;
      std::string in = "t" + std::to_string(t) + "-" + std::to_string(k) + ":" + std::string(n, char('a' + t));
      auto r = insts[t]->call(k % 2 ? "echo" : "upper", in);
      if (!r.ok()) {
        ++failed;
        continue;
      }
      std::string expected = in;
      if (k % 2 == 0)
        for (auto& c : expected)
          if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (r.output != expected) ++wrong;
    }
  });
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(HostConcurrency, SharedVarCounterStaysInRange) {
  auto insts = instances("config_vars");
  ASSERT_EQ(insts.size(), size_t(kThreads));
  constexpr int kCalls = 50;
  std::atomic<int> failed{0}, out_of_range{0};
  run_threads([&](int t) {
    for (int k = 0; k < kCalls; ++k) {
      auto r = insts[t]->call("var_counter", "");
      if (!r.ok()) {
        ++failed;
        continue;
      }
      // The read-modify-write is not atomic across instances: updates may be lost, but every
      // value is a count some call produced.
      long long v = std::stoll(r.output);
      if (v < 1 || v > kThreads * kCalls) ++out_of_range;
    }
  });
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(out_of_range.load(), 0);
  VarStore& vars = insts[0]->plugin().vars();
  auto final_value = vars.get("count");
  ASSERT_TRUE(final_value.has_value());
  long long v = std::stoll(*final_value);
  EXPECT_GE(v, 1);
  EXPECT_LE(v, kThreads * kCalls);
  // The store's accounting is still exact: one entry.
  EXPECT_EQ(vars.size(), 1u);
  EXPECT_EQ(vars.bytes(), 5u + final_value->size() + VarStore::kEntryOverhead);
}

TEST(HostConcurrency, SharedVarValuesAreNeverTorn) {
  auto insts = instances("config_vars");
  ASSERT_EQ(insts.size(), size_t(kThreads));
  std::set<std::string> values;
  for (int t = 0; t < kThreads; ++t) values.insert(std::string(1000 + t * 100, char('A' + t)));
  std::atomic<int> bad{0};
  run_threads([&](int t) {
    std::string mine(1000 + t * 100, char('A' + t));
    for (int k = 0; k < 50; ++k) {
      auto s = insts[t]->call("var_set_input", mine);
      auto g = insts[t]->call("var_get", "v");
      if (!s.ok() || !g.ok() || values.count(g.output) == 0) ++bad;
    }
  });
  EXPECT_EQ(bad.load(), 0);
}

TEST(HostConcurrency, SeparateLoadsHaveSeparateVars) {
  std::vector<std::shared_ptr<const CompiledPlugin>> plugins;
  std::vector<std::unique_ptr<PluginInstance>> insts;
  for (int t = 0; t < kThreads; ++t) {
    plugins.push_back(load_plugin("config_vars"));
    insts.push_back(make_instance(plugins.back()));
    ASSERT_TRUE(insts.back());
  }
  constexpr int kCalls = 40;
  std::atomic<int> wrong{0};
  run_threads([&](int t) {
    for (int k = 1; k <= kCalls; ++k) {
      auto r = insts[t]->call("var_counter", "");
      if (!r.ok() || r.output != std::to_string(k)) ++wrong;
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  for (auto& p : plugins) EXPECT_EQ(p->vars().get("count").value_or(""), std::to_string(kCalls));
}

TEST(HostConcurrency, InstanceGlobalsAreIndependent) {
  auto insts = instances("globals");
  ASSERT_EQ(insts.size(), size_t(kThreads));
  std::atomic<int> wrong{0};
  run_threads([&](int t) {
    for (int k = 1; k <= 100; ++k) {
      auto r = insts[t]->call("counter", "");
      if (!r.ok() || r.output != std::to_string(k)) ++wrong;
    }
  });
  EXPECT_EQ(wrong.load(), 0);
}

TEST(HostConcurrency, InstanceMovesBetweenThreads) {
  auto inst = make_instance(load_plugin("globals"));
  ASSERT_TRUE(inst);
  for (int k = 1; k <= 4; ++k) {
    std::string out;
    std::thread th([&] { out = inst->call("counter", "").output; });
    th.join();
    EXPECT_EQ(out, std::to_string(k));
  }
}
