// log_trace/debug/info/warn/error and get_log_level (extism-abi.md §1) through log.wasm
// (tests/plugins/README.md), captured with a CallSink; the per-call log limit and the timeout
// both stop log_flood.
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;
using namespace std::chrono_literals;

namespace {

struct LogEntry {
  LogLevel level;
  std::string message;
  bool operator==(const LogEntry& o) const { return level == o.level && message == o.message; }
};

std::ostream& operator<<(std::ostream& os, const LogEntry& e) {
  return os << "{" << to_string(e.level) << ", \"" << e.message.substr(0, 60) << "\"}";
}

// Records the plugin's log lines; counts (rather than stores) very long ones.
class RecordingSink : public CallSink {
 public:
  void plugin_log(const PluginOptions& plugin, LogLevel level, std::string_view message) override {
    plugin_names.emplace_back(plugin.name);
    ++count;
    bytes += message.size();
    if (message.size() <= 1024) logs.push_back({level, std::string(message)});
  }
  std::vector<LogEntry> logs;
  std::vector<std::string> plugin_names;
  size_t count = 0;
  uint64_t bytes = 0;
};

struct LevelCase {
  LogLevel level;
  const char* sent;
  const char* reported;
};

const LevelCase kLevels[] = {
    {LogLevel::Trace, "5", "0"}, {LogLevel::Debug, "4", "1"}, {LogLevel::Info, "3", "2"},
    {LogLevel::Warn, "2", "3"},  {LogLevel::Error, "1", "4"}, {LogLevel::Off, "0", "2147483647"},
};

PluginOptions at_level(LogLevel level) {
  PluginOptions o;
  o.log_level = level;
  return o;
}

std::vector<LogEntry> expected_at(LogLevel min, const std::string& prefix, const std::string& suffix) {
  const std::pair<LogLevel, const char*> all[] = {{LogLevel::Trace, "trace"},
                                                  {LogLevel::Debug, "debug"},
                                                  {LogLevel::Info, "info"},
                                                  {LogLevel::Warn, "warn"},
                                                  {LogLevel::Error, "error"}};
  std::vector<LogEntry> out;
  for (auto& [l, name] : all)
    if (l >= min) out.push_back({l, prefix + name + suffix});
  return out;
}

}  // namespace

TEST(HostLog, GetLogLevelReportsTheConfiguredLevel) {
  for (const auto& c : kLevels) {
    SCOPED_TRACE(to_string(c.level));
    auto i = make_instance(load_plugin("log", at_level(c.level)));
    ASSERT_TRUE(i);
    EXPECT_OUT(i->call("log_level", ""), c.reported);
  }
}

TEST(HostLog, LogAllSendsOnlyTheEnabledLevels) {
  for (const auto& c : kLevels) {
    SCOPED_TRACE(to_string(c.level));
    auto i = make_instance(load_plugin("log", at_level(c.level)));
    ASSERT_TRUE(i);
    RecordingSink sink;
    EXPECT_OUT(i->call("log_all", "", with_sink(&sink)), c.sent);
    EXPECT_EQ(sink.logs, expected_at(c.level, "", " msg"));
    for (const auto& n : sink.plugin_names) EXPECT_EQ(n, "log");
  }
}

TEST(HostLog, UnfilteredMessagesBelowTheLevelAreDropped) {
  for (const auto& c : kLevels) {
    SCOPED_TRACE(to_string(c.level));
    auto i = make_instance(load_plugin("log", at_level(c.level)));
    ASSERT_TRUE(i);
    RecordingSink sink;
    EXPECT_OUT(i->call("log_unfiltered", "", with_sink(&sink)), "5");
    EXPECT_EQ(sink.logs, expected_at(c.level, "unfiltered ", ""));
    // The call still succeeds again: the host freed the dropped messages without fuss.
    EXPECT_OUT(i->call("log_unfiltered", "", with_sink(&sink)), "5");
  }
}

TEST(HostLog, HandleZeroIsAnEmptyMessage) {
  auto i = make_instance(load_plugin("log"));
  ASSERT_TRUE(i);
  RecordingSink sink;
  EXPECT_OUT(i->call("log_zero", "", with_sink(&sink)), "logged");
  ASSERT_EQ(sink.logs.size(), 1u);
  EXPECT_EQ(sink.logs[0], (LogEntry{LogLevel::Info, ""}));
}

TEST(HostLog, DefaultSinkWorks) {
  // Without a sink the messages go to the server log; the call behaves the same.
  auto i = make_instance(load_plugin("log", at_level(LogLevel::Error)));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("log_all", ""), "1");
  EXPECT_OUT(i->call("log_zero", ""), "logged");
}

TEST(HostLog, FloodIsStoppedByTheLogLimit) {
  PluginOptions o;
  o.limits.max_log_bytes = 256 * 1024;
  o.limits.timeout_ms = 10000;
  auto i = make_instance(load_plugin("log", o));
  ASSERT_TRUE(i);
  RecordingSink sink;
  auto t0 = std::chrono::steady_clock::now();
  auto r = i->call("log_flood", "", with_sink(&sink));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_HOST_ERR(r, "log limit exceeded");
  EXPECT_NE(r.error->message.find(std::to_string(256 * 1024)), std::string::npos) << describe(r);
  // Only what fits in the budget reached the sink: 4 messages of 64 KiB.
  EXPECT_LE(sink.bytes, 256u * 1024);
  EXPECT_EQ(sink.count, 4u);
  // The budget is per call: the instance keeps working and logging.
  RecordingSink sink2;
  EXPECT_OUT(i->call("log_all", "", with_sink(&sink2)), "3");
  EXPECT_EQ(sink2.logs.size(), 3u);
}

TEST(HostLog, FloodIsStoppedByTheTimeout) {
  PluginOptions o;
  o.limits.max_log_bytes = std::numeric_limits<uint64_t>::max();
  o.limits.max_pages = 64;  // 4 MiB of kernel memory (the host frees each message, so it is reused)
  auto i = make_instance(load_plugin("log", o));
  ASSERT_TRUE(i);
  RecordingSink sink;
  auto t0 = std::chrono::steady_clock::now();
  CallOptions co = with_sink(&sink);
  co.timeout = 200ms;
  auto r = i->call("log_flood", "", co);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // far above the deadline, far below any fallback: not a speed check
  EXPECT_TIMEOUT(r);
  EXPECT_GT(sink.count, 0u);
  EXPECT_FALSE(i->reusable());
}
