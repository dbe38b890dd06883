// mcp/session: initialize bookkeeping, the standalone stream and its queue, requests to the
// client (answers from another thread, errors, timeouts, cancellation, close) and in-flight
// request cancellation.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "mcp/jsonrpc.hpp"
#include "mcp/session.hpp"
#include "recording_outbound.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
using namespace std::chrono_literals;
using test::RecordingOutbound;
namespace json = boost::json;

namespace {

json::object note(int i) { return make_notification("notifications/message", json::object{{"i", i}}); }

int index_of(const json::object& m) { return static_cast<int>(m.at("params").as_object().at("i").as_int64()); }

}  // namespace

TEST(Session, RecordInitializeOnlyOnce) {
  Session s("id1", Session::Kind::Streamable, "2025-03-26");
  EXPECT_EQ(s.id(), "id1");
  EXPECT_EQ(s.protocol_version(), "2025-03-26");
  EXPECT_FALSE(s.initialize_received());
  EXPECT_TRUE(s.record_initialize("2025-06-18", json::object{{"sampling", json::object{}}}, json::object{{"name", "c"}}));
  EXPECT_TRUE(s.initialize_received());
  EXPECT_FALSE(s.initialized());
  EXPECT_FALSE(s.record_initialize("2024-11-05", json::object{}, json::object{{"name", "other"}}));
  EXPECT_EQ(s.protocol_version(), "2025-06-18");
  EXPECT_TRUE(s.client_capabilities().contains("sampling"));
  EXPECT_EQ(s.client_info().at("name"), json::value("c"));
  s.mark_initialized();
  EXPECT_TRUE(s.initialized());
}

TEST(Session, NotificationsWaitForInitializedAndStream) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto out = std::make_shared<RecordingOutbound>();
  s.notify(note(1));
  ASSERT_TRUE(s.attach_stream(out));
  EXPECT_TRUE(s.has_stream());
  EXPECT_EQ(out->count(), 0u);  // a stream, but not initialized yet
  s.notify(note(2));
  EXPECT_EQ(out->count(), 0u);
  s.mark_initialized();  // flushes, in order
  ASSERT_EQ(out->count(), 2u);
  EXPECT_EQ(index_of(out->messages()[0]), 1);
  EXPECT_EQ(index_of(out->messages()[1]), 2);
  s.notify(note(3));  // now direct
  ASSERT_EQ(out->count(), 3u);
  EXPECT_EQ(index_of(out->messages()[2]), 3);
}

TEST(Session, InitializedWithoutStreamQueuesUntilAttach) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  s.mark_initialized();
  s.notify(note(1));
  s.notify(note(2));
  auto out = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(s.attach_stream(out));
  ASSERT_EQ(out->count(), 2u);
  EXPECT_EQ(index_of(out->messages()[1]), 2);

  // A closed stream does not receive; messages wait for the next one.
  out->set_open(false);
  EXPECT_FALSE(s.has_stream());
  s.notify(note(3));
  EXPECT_EQ(out->count(), 2u);
  auto out2 = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(s.attach_stream(out2));  // the old one is closed: replaced
  ASSERT_EQ(out2->count(), 1u);
  EXPECT_EQ(index_of(out2->messages()[0]), 3);
}

TEST(Session, OnlyOneOpenStream) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto a = std::make_shared<RecordingOutbound>(), b = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(s.attach_stream(a));
  EXPECT_FALSE(s.attach_stream(b));
  EXPECT_EQ(s.stream(), a);
  s.detach_stream(b.get());  // not the attached one: no effect
  EXPECT_EQ(s.stream(), a);
  s.detach_stream(a.get());
  EXPECT_FALSE(s.has_stream());
  EXPECT_TRUE(s.attach_stream(b));
  EXPECT_EQ(s.stream(), b);
}

TEST(Session, LegacyAndStdioFlushOnAttachBeforeInitialized) {
  for (auto kind : {Session::Kind::Legacy, Session::Kind::Stdio}) {
    Session s("s", kind, "2024-11-05");
    s.notify(note(1));
    auto out = std::make_shared<RecordingOutbound>();
    ASSERT_TRUE(s.attach_stream(out));
    EXPECT_EQ(out->count(), 1u);
  }
}

TEST(Session, QueueIsBounded) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  constexpr int kSent = 5000;
  for (int i = 0; i < kSent; ++i) s.notify(note(i));
  s.mark_initialized();
  auto out = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(s.attach_stream(out));
  auto msgs = out->messages();
  ASSERT_FALSE(msgs.empty());
  EXPECT_LE(msgs.size(), 1000u);  // bounded
  // The newest survive, in order.
  EXPECT_EQ(index_of(msgs.back()), kSent - 1);
  for (size_t i = 1; i < msgs.size(); ++i) EXPECT_EQ(index_of(msgs[i]), index_of(msgs[i - 1]) + 1);
}

TEST(Session, RequestClientRoundTripFromAnotherThread) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto via = std::make_shared<RecordingOutbound>();
  std::thread client([&] {
    auto req = via->wait_for(1);
    ASSERT_TRUE(req);
    EXPECT_EQ(req->at("method"), json::value("sampling/createMessage"));
    EXPECT_EQ(req->at("params").as_object().at("q"), json::value(1));
    std::string why;
    EXPECT_EQ(classify(*req, &why), MessageKind::Request);
    // An unknown id is not delivered.
    EXPECT_FALSE(s.deliver_response(json::object{{"jsonrpc", "2.0"}, {"id", "nope"}, {"result", 1}}));
    EXPECT_TRUE(s.deliver_response(make_result(req->at("id"), json::object{{"answer", 42}})));
    // Only once.
    EXPECT_FALSE(s.deliver_response(make_result(req->at("id"), json::object{{"answer", 43}})));
  });
  auto r = s.request_client("sampling/createMessage", json::object{{"q", 1}}, via, Deadline::after(10s), nullptr);
  client.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::parse(R"({"answer": 42})"));
}

TEST(Session, RequestClientUsesStreamWhenNoReplyChannel) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto stream = std::make_shared<RecordingOutbound>();
  ASSERT_TRUE(s.attach_stream(stream));
  auto closed = std::make_shared<RecordingOutbound>();
  closed->set_open(false);
  std::thread client([&] {
    auto req = stream->wait_for(1);
    ASSERT_TRUE(req);
    s.deliver_response(make_result(req->at("id"), "ok"));
  });
  auto r = s.request_client("elicitation/create", json::object{}, closed, Deadline::after(10s), nullptr);
  client.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::value("ok"));
  EXPECT_EQ(closed->count(), 0u);
}

TEST(Session, RequestClientErrors) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  // No way to reach the client.
  auto none = s.request_client("sampling/createMessage", json::object{}, nullptr, Deadline::after(10s), nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::HostError);

  // The client answers with an error.
  auto via = std::make_shared<RecordingOutbound>();
  std::thread client([&] {
    auto req = via->wait_for(1);
    ASSERT_TRUE(req);
    s.deliver_response(make_error(req->at("id"), RpcError{-1, "User rejected sampling", std::nullopt}));
  });
  auto err = s.request_client("sampling/createMessage", json::object{}, via, Deadline::after(10s), nullptr);
  client.join();
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().kind, ErrorKind::HostError);
  EXPECT_NE(err.error().message.find("User rejected sampling"), std::string::npos) << err.error().message;
}

TEST(Session, RequestClientTimesOutAndCancels) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto via = std::make_shared<RecordingOutbound>();
  auto t0 = std::chrono::steady_clock::now();
  auto r = s.request_client("sampling/createMessage", json::object{}, via, Deadline::after(100ms), nullptr);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Timeout);
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 20s);  // far above the deadline, far below any fallback: not a speed check
  // A late answer finds nobody waiting.
  auto req = via->wait_for(1, 1s);
  ASSERT_TRUE(req);
  EXPECT_FALSE(s.deliver_response(make_result(req->at("id"), 1)));

  // Cancelled long before its deadline.
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    via->wait_for(2);
    cancel = true;
  });
  auto t1 = std::chrono::steady_clock::now();
  auto c = s.request_client("sampling/createMessage", json::object{}, via, Deadline::after(60s), &cancel);
  took = std::chrono::steady_clock::now() - t1;
  canceller.join();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::Timeout);
  EXPECT_LT(took, 20s);  // the cancel flag, not the 60 s deadline, ended it
}

TEST(Session, CloseFailsWaitingRequests) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto via = std::make_shared<RecordingOutbound>();
  auto flag = s.begin_request(json::value(9));
  auto fut = std::async(std::launch::async, [&] {
    return s.request_client("elicitation/create", json::object{}, via, Deadline::after(60s), nullptr);
  });
  ASSERT_TRUE(via->wait_for(1));
  auto t0 = std::chrono::steady_clock::now();
  s.close();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  auto r = fut.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::HostError);
  EXPECT_TRUE(s.closed());
  EXPECT_TRUE(flag->load());  // calls of the session are stopped
  // After close: requests fail at once, notifications go nowhere.
  auto after = s.request_client("elicitation/create", json::object{}, via, Deadline::after(60s), nullptr);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().kind, ErrorKind::HostError);
  size_t n = via->count();
  s.notify(note(1));
  EXPECT_EQ(via->count(), n);
  EXPECT_FALSE(s.has_stream());
}

TEST(Session, CancelRequestFlagsTheRightCall) {
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  auto five = s.begin_request(json::value(5));
  auto str = s.begin_request(json::value("5"));
  EXPECT_FALSE(five->load());
  EXPECT_FALSE(s.cancel_request(json::value(6)));
  EXPECT_TRUE(s.cancel_request(json::value(5)));
  EXPECT_TRUE(five->load());
  EXPECT_FALSE(str->load());  // "5" is another id than 5
  EXPECT_TRUE(s.cancel_request(json::value("5")));
  EXPECT_TRUE(str->load());
  s.end_request(json::value(5));
  EXPECT_FALSE(s.cancel_request(json::value(5)));
}

TEST(Session, LogLevelsAndSubscriptions) {
  EXPECT_EQ(parse_mcp_log_level("debug"), 0);
  EXPECT_EQ(parse_mcp_log_level("warning"), 3);
  EXPECT_EQ(parse_mcp_log_level("emergency"), 7);
  EXPECT_FALSE(parse_mcp_log_level("warn"));
  EXPECT_FALSE(parse_mcp_log_level("DEBUG"));
  Session s("s", Session::Kind::Streamable, "2025-06-18");
  EXPECT_FALSE(s.log_level());
  s.set_log_level(4);
  EXPECT_EQ(s.log_level(), 4);
  s.subscribe("a://1");
  s.subscribe("a://2");
  s.subscribe("a://1");
  EXPECT_EQ(s.subscriptions(), (std::set<std::string>{"a://1", "a://2"}));
  s.unsubscribe("a://1");
  EXPECT_EQ(s.subscriptions(), (std::set<std::string>{"a://2"}));
}
