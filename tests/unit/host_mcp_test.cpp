// Our own wasimancer:host/mcp imports (progress, notify_log, sample, elicit) through
// mcp_features.wasm (tests/plugins/README.md): the exact JSON a CallSink receives, what its
// answers do to the plugin, and the default CallSink (no MCP client).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "log_capture.hpp"
#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;

namespace {

// Records every MCP request; answers as configured.
class McpSink : public CallSink {
 public:
  bool progress(std::string_view json) override {
    progress_calls.emplace_back(json);
    return accept_progress(progress_calls.size());
  }
  void client_log(int level, std::string_view message) override { client_logs.push_back({level, std::string(message)}); }
  Result<std::string> sample(std::string_view request_json) override {
    sample_requests.emplace_back(request_json);
    if (fail) return Error(ErrorKind::HostError, "the client refused sampling");
    return answer;
  }
  Result<std::string> elicit(std::string_view request_json) override {
    elicit_requests.emplace_back(request_json);
    if (fail) return Error(ErrorKind::HostError, "the client refused elicitation");
    return answer;
  }
  void plugin_log(const PluginOptions&, LogLevel level, std::string_view message) override {
    plugin_logs.push_back({level, std::string(message)});
  }

  std::function<bool(size_t)> accept_progress = [](size_t) { return true; };
  bool fail = false;
  std::string answer = "{\"ok\":true}";

  std::vector<std::string> progress_calls;
  std::vector<std::pair<int, std::string>> client_logs;
  std::vector<std::string> sample_requests, elicit_requests;
  std::vector<std::pair<LogLevel, std::string>> plugin_logs;
};

class Mcp : public PluginTest {
 protected:
  void SetUp() override { load("mcp_features"); }
  // A call whose MCP requests go to `sink`.
  CallOutcome call(const std::string& fn, const std::string& input) { return inst->call(fn, input, with_sink(&sink)); }
  McpSink sink;
};

// The input bytes as the plugin escapes them into a JSON string.
const std::string kTrickyInput = std::string("say \"hi\" \\ back\nline\r\ttab\x01\x1f caf\xC3\xA9");
const std::string kTrickyJson = "\"say \\\"hi\\\" \\\\ back\\nline\\r\\ttab\\u0001\\u001f caf\xC3\xA9\"";

}  // namespace

// ---- progress ---------------------------------------------------------------------------------------

TEST_F(Mcp, ProgressStepsSendsExactJson) {
  EXPECT_OUT(call("progress_steps", "3"), "done");
  EXPECT_EQ(sink.progress_calls, (std::vector<std::string>{
                                     "{\"progress\":1,\"total\":3,\"message\":\"step 1\"}",
                                     "{\"progress\":2,\"total\":3,\"message\":\"step 2\"}",
                                     "{\"progress\":3,\"total\":3,\"message\":\"step 3\"}",
                                 }));
}

TEST_F(Mcp, ProgressDefaultsToThreeSteps) {
  EXPECT_OUT(call("progress_steps", ""), "done");
  EXPECT_EQ(sink.progress_calls.size(), 3u);
}

TEST_F(Mcp, ProgressZeroStepsMakesNoCalls) {
  EXPECT_OUT(call("progress_steps", "0"), "done");
  EXPECT_TRUE(sink.progress_calls.empty());
}

TEST_F(Mcp, ProgressManySteps) {
  EXPECT_OUT(call("progress_steps", "1000"), "done");
  ASSERT_EQ(sink.progress_calls.size(), 1000u);
  EXPECT_EQ(sink.progress_calls.back(), "{\"progress\":1000,\"total\":1000,\"message\":\"step 1000\"}");
}

TEST_F(Mcp, RejectedProgressIsCounted) {
  sink.accept_progress = [](size_t n) { return n % 2 == 1; };  // rejects steps 2 and 4
  EXPECT_OUT(call("progress_steps", "5"), "done (progress rejected: 2)");
  sink.accept_progress = [](size_t) { return false; };
  sink.progress_calls.clear();
  EXPECT_OUT(call("progress_steps", "4"), "done (progress rejected: 4)");
  EXPECT_EQ(sink.progress_calls.size(), 4u);
}

TEST_F(Mcp, ProgressOutOfRange) {
  EXPECT_PLUGIN_ERR_RC(call("progress_steps", "1001"), 1, "progress_steps: N must be 0..1000");
  EXPECT_PLUGIN_ERR_RC(call("progress_steps", "-1"), 1, "progress_steps: N must be 0..1000");
  EXPECT_TRUE(sink.progress_calls.empty());
}

TEST_F(Mcp, DefaultSinkRejectsProgress) {
  EXPECT_OUT(inst->call("progress_steps", "3"), "done (progress rejected: 3)");
}

// ---- notify_log -------------------------------------------------------------------------------------

TEST_F(Mcp, NotifySendsAnInfoClientLog) {
  EXPECT_OUT(call("notify", "hello client"), "sent");
  ASSERT_EQ(sink.client_logs.size(), 1u);
  EXPECT_EQ(sink.client_logs[0].first, 1);
  EXPECT_EQ(sink.client_logs[0].second, "hello client");
  // Bytes are passed as they are.
  EXPECT_OUT(call("notify", kTrickyInput), "sent");
  ASSERT_EQ(sink.client_logs.size(), 2u);
  EXPECT_EQ(sink.client_logs[1].second, kTrickyInput);
}

TEST_F(Mcp, NotifyEmptyMessageIsHandleZero) {
  EXPECT_OUT(call("notify", ""), "sent");
  ASSERT_EQ(sink.client_logs.size(), 1u);
  EXPECT_EQ(sink.client_logs[0], (std::pair<int, std::string>{1, ""}));
}

TEST_F(Mcp, NotifyCountsAgainstTheLogLimit) {
  PluginOptions o;
  o.limits.max_log_bytes = 16;
  auto i = make_instance(load_plugin("mcp_features", o));
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("notify", "short", with_sink(&sink)), "sent");
  EXPECT_HOST_ERR(i->call("notify", std::string(100, 'n'), with_sink(&sink)), "log limit exceeded");
  EXPECT_EQ(sink.client_logs.size(), 1u);
}

// Without a sink there is no client: a log message meant for the client goes nowhere (not into
// the server log either, at any level), and the call still succeeds.
TEST_F(Mcp, DefaultSinkDropsClientLogs) {
  LogCapture logs;
  EXPECT_OUT(inst->call("notify", "nobody listens"), "sent");
  EXPECT_EQ(logs.text().find("nobody listens"), std::string::npos) << logs.text();
  // The same call with a client's sink delivers it: the plugin did send it.
  EXPECT_OUT(call("notify", "nobody listens"), "sent");
  ASSERT_EQ(sink.client_logs.size(), 1u);
  EXPECT_EQ(sink.client_logs[0].second, "nobody listens");
}

// ---- sample -----------------------------------------------------------------------------------------

TEST_F(Mcp, AskModelSendsExactJsonAndReturnsTheAnswer) {
  sink.answer = "{\"role\":\"assistant\",\"content\":{\"type\":\"text\",\"text\":\"42\"}}";
  EXPECT_OUT(call("ask_model", "What is the answer?"), sink.answer);
  ASSERT_EQ(sink.sample_requests.size(), 1u);
  EXPECT_EQ(sink.sample_requests[0],
            "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"What is the answer?\"}}],"
            "\"maxTokens\":100}");
  EXPECT_TRUE(sink.elicit_requests.empty());
}

TEST_F(Mcp, AskModelEscapesTheInput) {
  EXPECT_OUT(call("ask_model", kTrickyInput), sink.answer);
  ASSERT_EQ(sink.sample_requests.size(), 1u);
  EXPECT_EQ(sink.sample_requests[0],
            "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":" + kTrickyJson +
                "}}],\"maxTokens\":100}");
}

TEST_F(Mcp, AskModelEmptyInput) {
  EXPECT_OUT(call("ask_model", ""), sink.answer);
  ASSERT_EQ(sink.sample_requests.size(), 1u);
  EXPECT_EQ(sink.sample_requests[0],
            "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"\"}}],\"maxTokens\":100}");
}

TEST_F(Mcp, AskModelAnswerIsVerbatim) {
  sink.answer = std::string("not json at all \0 with a NUL", 28);
  EXPECT_OUT(call("ask_model", "x"), sink.answer);
  sink.answer = std::string(200000, 'm');  // larger than any guest buffer
  EXPECT_OUT(call("ask_model", "x"), sink.answer);
}

TEST_F(Mcp, FailedSamplingIsThePluginsError) {
  sink.fail = true;
  EXPECT_PLUGIN_ERR_RC(call("ask_model", "hello"), 1, "sampling failed");
  EXPECT_EQ(sink.sample_requests.size(), 1u);
  // The host explains the failure in the plugin's log.
  ASSERT_EQ(sink.plugin_logs.size(), 1u);
  EXPECT_EQ(sink.plugin_logs[0].first, LogLevel::Warn);
  EXPECT_NE(sink.plugin_logs[0].second.find("the client refused sampling"), std::string::npos)
      << sink.plugin_logs[0].second;
}

TEST_F(Mcp, EmptySamplingAnswerIsNull) {
  sink.answer = "";
  EXPECT_PLUGIN_ERR_RC(call("ask_model", "hello"), 1, "sampling failed");
}

TEST_F(Mcp, DefaultSinkCannotSample) { EXPECT_PLUGIN_ERR_RC(inst->call("ask_model", "hello"), 1, "sampling failed"); }

// ---- elicit -----------------------------------------------------------------------------------------

const char kSchema[] =
    ",\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}}";

TEST_F(Mcp, AskUserSendsExactJsonAndReturnsTheAnswer) {
  sink.answer = "{\"action\":\"accept\",\"content\":{\"name\":\"Bob\"}}";
  EXPECT_OUT(call("ask_user", "Your name?"), sink.answer);
  ASSERT_EQ(sink.elicit_requests.size(), 1u);
  EXPECT_EQ(sink.elicit_requests[0], std::string("{\"message\":\"Your name?\"") + kSchema);
  EXPECT_TRUE(sink.sample_requests.empty());
}

TEST_F(Mcp, AskUserEscapesTheInput) {
  EXPECT_OUT(call("ask_user", kTrickyInput), sink.answer);
  ASSERT_EQ(sink.elicit_requests.size(), 1u);
  EXPECT_EQ(sink.elicit_requests[0], "{\"message\":" + kTrickyJson + kSchema);
}

TEST_F(Mcp, FailedElicitationIsThePluginsError) {
  sink.fail = true;
  EXPECT_PLUGIN_ERR_RC(call("ask_user", "Your name?"), 1, "elicitation failed");
  ASSERT_EQ(sink.plugin_logs.size(), 1u);
  EXPECT_EQ(sink.plugin_logs[0].first, LogLevel::Warn);
  EXPECT_NE(sink.plugin_logs[0].second.find("the client refused elicitation"), std::string::npos);
}

TEST_F(Mcp, DefaultSinkCannotElicit) { EXPECT_PLUGIN_ERR_RC(inst->call("ask_user", "Your name?"), 1, "elicitation failed"); }

TEST_F(Mcp, DefaultCallSinkAnswers) {
  CallSink def;
  EXPECT_FALSE(def.progress("{}"));
  auto s = def.sample("{}");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::HostError);
  auto e = def.elicit("{}");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().kind, ErrorKind::HostError);
  def.client_log(1, "ignored");
}

TEST_F(Mcp, FeaturesWorkAcrossCallsOnOneInstance) {
  for (int k = 0; k < 3; ++k) {
    EXPECT_OUT(call("progress_steps", "2"), "done");
    EXPECT_OUT(call("notify", "n" + std::to_string(k)), "sent");
    EXPECT_OUT(call("ask_model", "q"), sink.answer);
    EXPECT_OUT(call("ask_user", "q"), sink.answer);
  }
  EXPECT_EQ(sink.progress_calls.size(), 6u);
  EXPECT_EQ(sink.client_logs.size(), 3u);
  EXPECT_EQ(sink.sample_requests.size(), 3u);
  EXPECT_EQ(sink.elicit_requests.size(), 3u);
}
