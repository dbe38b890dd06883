// One CompiledPlugin shared by several threads, each with its own PluginInstance (plugin.hpp:
// CompiledPlugin is safe from any thread; a PluginInstance serves one call at a time and may move
// between threads between calls). Plugins: echo.wasm, config_vars.wasm, globals.wasm.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/files.hpp"
#include "host/plugin.hpp"
#include "plugin_helpers.hpp"
#include "paths.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using wasimancer::test::describe;
using wasimancer::test::load_plugin;
using wasimancer::test::make_instance;

namespace {

constexpr int kThreads = 4;

// Creates kThreads instances up front (so failures are reported on the test thread).
std::vector<std::unique_ptr<PluginInstance>> instances(const std::shared_ptr<const CompiledPlugin>& p) {
  std::vector<std::unique_ptr<PluginInstance>> out;
  for (int t = 0; t < kThreads; ++t) {
    auto i = PluginInstance::create(p);
    EXPECT_TRUE(i.ok()) << i.error().message;
    if (!i.ok()) return {};
    out.push_back(std::move(*i));
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
  auto p = load_plugin("echo");
  ASSERT_TRUE(p);
  auto insts = instances(p);
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
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto insts = instances(p);
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
  auto final_value = p->vars().get("count");
  ASSERT_TRUE(final_value.has_value());
  long long v = std::stoll(*final_value);
  EXPECT_GE(v, 1);
  EXPECT_LE(v, kThreads * kCalls);
  // The store's accounting is still exact: one entry.
  EXPECT_EQ(p->vars().size(), 1u);
  EXPECT_EQ(p->vars().bytes(), 5u + final_value->size() + VarStore::kEntryOverhead);
}

TEST(HostConcurrency, SharedVarValuesAreNeverTorn) {
  auto p = load_plugin("config_vars");
  ASSERT_TRUE(p);
  auto insts = instances(p);
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
    ASSERT_TRUE(plugins.back());
    auto i = PluginInstance::create(plugins.back());
    ASSERT_TRUE(i.ok());
    insts.push_back(std::move(*i));
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
  auto p = load_plugin("globals");
  ASSERT_TRUE(p);
  auto insts = instances(p);
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
  auto p = load_plugin("globals");
  ASSERT_TRUE(p);
  auto i = PluginInstance::create(p);
  ASSERT_TRUE(i.ok());
  auto inst = std::move(*i);
  for (int k = 1; k <= 4; ++k) {
    std::string out;
    std::thread th([&] { out = inst->call("counter", "").output; });
    th.join();
    EXPECT_EQ(out, std::to_string(k));
  }
}
