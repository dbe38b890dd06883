// Metrics registry and exposition, trace context, OTLP encoding, JSON logs, readiness and the
// live feed (core/metrics, core/trace, core/otlp, core/log, core/health, core/event_feed).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <map>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>

#include "core/event_feed.hpp"
#include "core/health.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/otlp.hpp"
#include "core/text.hpp"
#include "core/trace.hpp"
#include "http_server.hpp"

using namespace wasimancer;
namespace json = boost::json;

namespace {

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST(Metrics, CountersAddUpAcrossThreads) {
  metrics::Registry r;
  auto& fam = r.counter("test_events_total", "events", {"kind"});
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&fam, t] {
      auto& c = fam.with({t % 2 ? "odd" : "even"});
      for (int i = 0; i < kEach; ++i) c.inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fam.with({"odd"}).value(), uint64_t(kThreads / 2 * kEach));
  EXPECT_EQ(fam.with({"even"}).value(), uint64_t(kThreads / 2 * kEach));
  // The same label values find the same child.
  EXPECT_EQ(&fam.with({"odd"}), &fam.with({std::string_view("odd")}));
  std::string text = r.expose();
  EXPECT_NE(text.find("# HELP test_events_total events\n# TYPE test_events_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_events_total{kind=\"even\"} 80000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_events_total{kind=\"odd\"} 80000\n"), std::string::npos) << text;
}

// Family::with keeps each thread's recent children: a hit must be the child of that family and
// those exact values, even when families come and go (a new one may take a freed one's address).
TEST(Metrics, RecentChildrenCacheNeverMixesFamiliesOrValues) {
  for (int round = 0; round < 50; ++round) {
    metrics::Registry r;
    auto& a = r.counter("test_a_total", "a", {"x", "y"});
    auto& b = r.counter("test_b_total", "b", {"x", "y"});
    a.with({"ab", ""}).inc();
    a.with({"a", "b"}).inc(2);
    b.with({"ab", ""}).inc(3);
    for (int i = 0; i < 3; ++i) {  // repeated: served from the cache
      EXPECT_EQ(a.with({"ab", ""}).value(), 1u) << round;
      EXPECT_EQ(a.with({"a", "b"}).value(), 2u) << round;
      EXPECT_EQ(b.with({"ab", ""}).value(), 3u) << round;
      EXPECT_EQ(b.with({"a", "b"}).value(), 0u) << round;
      EXPECT_NE(&a.with({"ab", ""}), &b.with({"ab", ""}));
      EXPECT_EQ(&a.with({"ab"}), &a.with({"ab", ""}));  // missing values are empty
    }
  }
  // Many label sets (more than the cache holds) through one thread stay distinct.
  metrics::Registry r;
  auto& f = r.counter("test_many_total", "many", {"n"});
  for (int pass = 0; pass < 3; ++pass) {
    for (int i = 0; i < 200; ++i) f.with({std::to_string(i)}).inc(static_cast<uint64_t>(i));
  }
  for (int i = 0; i < 200; ++i) EXPECT_EQ(f.with({std::to_string(i)}).value(), uint64_t(3 * i)) << i;
}

// Gauges are striped: adds from many threads, and a hold taken on one thread and released on
// another, still sum to the right value.
TEST(Metrics, StripedGaugeSumsAcrossThreads) {
  metrics::Registry r;
  auto& g = r.gauge("test_in_flight", "in flight", {}).with({});
  constexpr int kThreads = 8, kEach = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&g, t] {
      for (int i = 0; i < kEach; ++i) g.add(t % 2 ? 1 : 0.5);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(g.value(), kThreads / 2 * kEach * 1.5);
  metrics::GaugeHold hold(&g);
  EXPECT_DOUBLE_EQ(g.value(), kThreads / 2 * kEach * 1.5 + 1);
  std::thread([h = std::move(hold)]() mutable { h.release(); }).join();
  EXPECT_DOUBLE_EQ(g.value(), kThreads / 2 * kEach * 1.5);
  g.set(2);
  EXPECT_DOUBLE_EQ(g.value(), 2);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  metrics::Registry r;
  auto& h = r.histogram("test_seconds", "latency", {"op"}, {0.1, 1, 10}).with({"read"});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0}) h.observe(v);
  auto snap = h.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{2, 3, 4, 5}));  // le=0.1 includes 0.1
  EXPECT_EQ(snap.count, 5u);
  EXPECT_DOUBLE_EQ(snap.sum, 22.65);
  std::string text = r.expose();
  auto buckets = lines_with(text, "test_seconds_bucket");
  ASSERT_EQ(buckets.size(), 4u) << text;
  EXPECT_EQ(buckets[0], "test_seconds_bucket{op=\"read\",le=\"0.1\"} 2");
  EXPECT_EQ(buckets[3], "test_seconds_bucket{op=\"read\",le=\"+Inf\"} 5");
  EXPECT_NE(text.find("test_seconds_count{op=\"read\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_seconds_sum{op=\"read\"} 22.65\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
  metrics::Registry r;
  r.gauge("test_gauge", "a \\ help\nline", {"name"}).with({"a \"quoted\" \\ name\nx"}).set(1.5);
  std::string text = r.expose();
  EXPECT_NE(text.find("# HELP test_gauge a \\\\ help\\nline\n"), std::string::npos) << text;
  EXPECT_NE(text.find("test_gauge{name=\"a \\\"quoted\\\" \\\\ name\\nx\"} 1.5\n"), std::string::npos) << text;
  EXPECT_EQ(metrics::format_value(3), "3");
  EXPECT_EQ(metrics::format_value(0.25), "0.25");
  EXPECT_EQ(metrics::format_value(1.0 / 0.0), "+Inf");
}

TEST(Metrics, CollectorsRunAtScrapeTimeAndCanBeRemoved) {
  metrics::Registry r;
  int calls = 0;
  auto token = r.add_collector("test_live", "computed", "gauge", {"k"}, [&calls] {
    ++calls;
    return std::vector<metrics::Sample>{{{"a"}, 2}, {{"b"}, 3}};
  });
  std::string text = r.expose();
  EXPECT_EQ(calls, 1);
  EXPECT_NE(text.find("# TYPE test_live gauge\ntest_live{k=\"a\"} 2\ntest_live{k=\"b\"} 3\n"), std::string::npos) << text;
  r.remove_collector(token);
  EXPECT_EQ(r.expose().find("test_live"), std::string::npos);
}

TEST(Metrics, OutcomesFollowTheErrorKinds) {
  EXPECT_EQ(metrics::outcome_label(nullptr), "ok");
  Error trap(ErrorKind::Trap, "unreachable"), timeout(ErrorKind::Timeout, "t"), oom(ErrorKind::OutOfMemory, "o"),
      plugin(ErrorKind::PluginError, "p"), crash(ErrorKind::Crash, "c"), cancelled(ErrorKind::Cancelled, "x"),
      host(ErrorKind::HostError, "Vars are disabled by this host"),
      denied(ErrorKind::HostError, "HTTP request to https://example.com/ is not allowed");
  EXPECT_EQ(metrics::outcome_label(&trap), "trap");
  EXPECT_EQ(metrics::outcome_label(&timeout), "timeout");
  EXPECT_EQ(metrics::outcome_label(&oom), "oom");
  EXPECT_EQ(metrics::outcome_label(&plugin), "plugin_error");
  EXPECT_EQ(metrics::outcome_label(&crash), "crash");
  EXPECT_EQ(metrics::outcome_label(&cancelled), "cancelled");
  EXPECT_EQ(metrics::outcome_label(&host), "host_error");
  EXPECT_EQ(metrics::outcome_label(&denied), "denied_host");
}

TEST(Metrics, RouteLabelsAreAFixedSet) {
  EXPECT_EQ(metrics::route_label("/mcp"), "/mcp");
  EXPECT_EQ(metrics::route_label("/messages?sessionId=abc"), "/messages");
  EXPECT_EQ(metrics::route_label("/remove-plugin/some%20name"), "/remove-plugin");
  EXPECT_EQ(metrics::route_label("/ui/app.js"), "/ui");
  EXPECT_EQ(metrics::route_label("/../../etc/passwd"), "other");
  EXPECT_EQ(metrics::route_label("/random-thing-42"), "other");
}

TEST(Metrics, DisabledRecordingRecordsNothing) {
  auto& fam = metrics::registry().counter("wasimancer_tool_calls_total", "", {"tool", "plugin", "version", "outcome"});
  auto& c = fam.with({"observe-test-tool", "p", "1", "ok"});
  uint64_t before = c.value();
  metrics::set_enabled(false);
  metrics::record_tool_call("observe-test-tool", "p", "1", "ok", 0.001);
  EXPECT_EQ(c.value(), before);
  metrics::set_enabled(true);
  metrics::record_tool_call("observe-test-tool", "p", "1", "ok", 0.001);
  EXPECT_EQ(c.value(), before + 1);
}

TEST(Metrics, RequestsInFlightAreHeldWhileTheRequestLives) {
  auto& total = metrics::registry().counter("wasimancer_mcp_requests_total", "", {"transport", "protocol", "mode"});
  auto& flying = metrics::registry().gauge("wasimancer_mcp_requests_in_flight", "", {"transport", "protocol", "mode"});
  auto& c = total.with({"stdio", "2026-07-28", "stateless"});
  auto& g = flying.with({"stdio", "2026-07-28", "stateless"});
  const uint64_t count0 = c.value();
  const double g0 = g.value();
  {
    metrics::GaugeHold hold = metrics::record_mcp_request("stdio", "2026-07-28", "stateless");
    EXPECT_EQ(c.value(), count0 + 1);
    EXPECT_EQ(g.value(), g0 + 1);
    metrics::GaugeHold moved = std::move(hold);  // a move carries the hold: still one
    EXPECT_EQ(g.value(), g0 + 1);
    metrics::GaugeHold other = metrics::record_mcp_request("stdio", "2026-07-28", "stateless");
    EXPECT_EQ(g.value(), g0 + 2);
    other = std::move(moved);  // releases what `other` held
    EXPECT_EQ(g.value(), g0 + 1);
  }
  EXPECT_EQ(g.value(), g0);
  EXPECT_EQ(c.value(), count0 + 2);
  metrics::set_enabled(false);
  {
    metrics::GaugeHold none = metrics::record_mcp_request("stdio", "2026-07-28", "stateless");
    EXPECT_EQ(g.value(), g0);
  }
  metrics::set_enabled(true);
  EXPECT_EQ(c.value(), count0 + 2);
  EXPECT_EQ(g.value(), g0);
}

TEST(Trace, ParsesAndWritesTraceparent) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto c = trace::TraceContext::parse(tp);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(c->flags, 1);
  EXPECT_EQ(c->traceparent(), tp);
  auto child = c->child();
  EXPECT_EQ(child.trace_id, c->trace_id);
  EXPECT_NE(child.span_id, c->span_id);
  // A later version may add fields; version 00 may not.
  EXPECT_TRUE(trace::TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f35-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(trace::TraceContext::parse(bad)) << bad;
  }
  auto a = trace::TraceContext::root(), b = trace::TraceContext::root();
  EXPECT_TRUE(a.valid());
  EXPECT_NE(a.trace_id, b.trace_id);
  EXPECT_TRUE(trace::TraceContext::parse(a.traceparent()));
}

TEST(Trace, ScopesNest) {
  EXPECT_EQ(trace::current(), nullptr);
  auto a = trace::TraceContext::root(), b = trace::TraceContext::root();
  {
    trace::Scope sa(&a);
    EXPECT_EQ(trace::current(), &a);
    {
      trace::Scope sb(&b);
      EXPECT_EQ(trace::current(), &b);
    }
    EXPECT_EQ(trace::current(), &a);
  }
  EXPECT_EQ(trace::current(), nullptr);
}

namespace {
// Keeps each exported span as it came (JSON text) and parsed.
struct Collecting : trace::SpanExporter {
  std::mutex mu;
  std::vector<std::string> texts;
  std::vector<json::object> spans;
  void export_span(std::string_view s) override {
    std::lock_guard lock(mu);
    spans.push_back(json::parse(s).as_object());
    texts.emplace_back(s);
  }
};
}  // namespace

TEST(Trace, SpansAreRecordedOnlyWithAnExporter) {
  auto parent = trace::TraceContext::root();
  {
    trace::Span s("not recorded", trace::SpanKind::Internal, &parent);
    EXPECT_FALSE(s.recording());
    EXPECT_EQ(s.context().trace_id, parent.trace_id);  // the context exists anyway
  }
  auto sink = std::make_shared<Collecting>();
  trace::set_exporter(sink);
  {
    trace::Span s("child", trace::SpanKind::Client, &parent);
    s.attribute("k", "v");
    s.fail("it broke");
  }
  trace::set_exporter(nullptr);
  ASSERT_EQ(sink->spans.size(), 1u);
  const auto& d = sink->spans[0];
  EXPECT_EQ(d.at("name"), json::value("child"));
  EXPECT_EQ(d.at("kind"), json::value(3));
  EXPECT_EQ(d.at("traceId"), json::value(parent.trace_id_hex()));
  EXPECT_EQ(d.at("parentSpanId"), json::value(parent.span_id_hex()));
  EXPECT_NE(d.at("spanId"), json::value(parent.span_id_hex()));
  EXPECT_EQ(d.at("status"), json::parse(R"({"code":2,"message":"it broke"})"));
  EXPECT_LE(std::stoull(std::string(d.at("startTimeUnixNano").as_string())), std::stoull(std::string(d.at("endTimeUnixNano").as_string())));
  EXPECT_EQ(d.at("attributes"), json::parse(R"([{"key":"k","value":{"stringValue":"v"}}])"));
}

TEST(Trace, ASpanWritesItselfAsValidJsonWhateverItsText) {
  // Names, keys, values and messages with quotes, control characters, invalid UTF-8 and NULs
  // still make one valid JSON object that reads back as what was given (invalid UTF-8 aside).
  auto sink = std::make_shared<Collecting>();
  trace::set_exporter(sink);
  const std::string nul("a\0b", 3);
  {
    trace::Span s("say \"hi\"\n\t\\", trace::SpanKind::Server, nullptr);
    s.attribute("k\"ey", nul);
    s.attribute("bad utf-8", "\xff\xfe");
    s.attribute("", "");
    s.fail("first");
    s.fail("second \x01");
    s.end();
    s.attribute("after end", "ignored");
  }
  {
    trace::Span plain("no attributes", trace::SpanKind::Internal, nullptr);
  }
  trace::set_exporter(nullptr);
  ASSERT_EQ(sink->spans.size(), 2u);
  const auto& d = sink->spans[0];
  EXPECT_EQ(d.at("name"), json::value("say \"hi\"\n\t\\"));
  EXPECT_FALSE(d.contains("parentSpanId"));  // a new trace
  const auto& attrs = d.at("attributes").as_array();
  ASSERT_EQ(attrs.size(), 3u);
  EXPECT_EQ(attrs[0].at("key"), json::value("k\"ey"));
  EXPECT_EQ(attrs[0].at_pointer("/value/stringValue"), json::value(nul));
  EXPECT_EQ(attrs[2].at("key"), json::value(""));
  EXPECT_EQ(d.at("status").at("message"), json::value("second \x01"));
  EXPECT_EQ(sink->spans[1].at("attributes"), json::array());
  EXPECT_EQ(sink->spans[1].at("status"), json::parse(R"({"code":1})"));
}

TEST(Trace, HeadSamplingByRatioAndTheCallersDecision) {
  auto sink = std::make_shared<Collecting>();
  trace::set_exporter(sink);
  // Ratio 0: traces started here are not sampled (flags 00 on the wire) and record nothing.
  trace::set_sample_ratio(0);
  auto unsampled = trace::TraceContext::root();
  EXPECT_EQ(unsampled.flags, 0);
  EXPECT_TRUE(unsampled.traceparent().ends_with("-00"));
  { trace::Span s("unsampled", trace::SpanKind::Server, &unsampled); EXPECT_FALSE(s.recording()); }
  // A caller's sampled flag wins over the ratio, both ways.
  auto theirs = trace::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(theirs);
  { trace::Span s("the caller sampled it", trace::SpanKind::Server, &*theirs); EXPECT_TRUE(s.recording()); }
  trace::set_sample_ratio(1);
  auto declined = trace::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(declined);
  { trace::Span s("the caller did not", trace::SpanKind::Server, &*declined); EXPECT_FALSE(s.recording()); }
  // Ratio 1: every trace; ratio 0.25: about a quarter of 4,000 (the ids are random).
  EXPECT_EQ(trace::TraceContext::root().flags, 1);
  trace::set_sample_ratio(0.25);
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) sampled += trace::TraceContext::root().flags & 1;
  EXPECT_GT(sampled, 800);
  EXPECT_LT(sampled, 1200);
  trace::set_sample_ratio(1);
  trace::set_exporter(nullptr);
  ASSERT_EQ(sink->spans.size(), 1u);
  EXPECT_EQ(sink->spans[0].at("name"), json::value("the caller sampled it"));
}

TEST(Otlp, EncodesTheJsonProtocol) {
  auto sink = std::make_shared<Collecting>();
  trace::set_exporter(sink);
  {
    trace::Span s("tools/call \"x\"", trace::SpanKind::Server,
                  *trace::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                  std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8});
    s.attribute("mcp.tool", "echo");
  }
  trace::set_exporter(nullptr);
  ASSERT_EQ(sink->texts.size(), 1u);
  sink->texts.push_back(sink->texts[0]);  // a batch of two
  trace::OtlpConfig cfg;
  cfg.service_version = "1.2.3";
  json::value doc = json::parse(trace::OtlpExporter::encode(sink->texts, cfg));
  const auto& rs = doc.at("resourceSpans").as_array().at(0);
  EXPECT_EQ(rs.at_pointer("/resource/attributes/0/key"), json::value("service.name"));
  EXPECT_EQ(rs.at_pointer("/resource/attributes/0/value/stringValue"), json::value("wasimancer"));
  const auto& span = rs.at_pointer("/scopeSpans/0/spans/0").as_object();
  EXPECT_EQ(span.at("traceId"), json::value("4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_EQ(span.at("spanId"), json::value("00f067aa0ba902b7"));
  EXPECT_EQ(span.at("parentSpanId"), json::value("0102030405060708"));
  EXPECT_EQ(span.at("name"), json::value("tools/call \"x\""));
  EXPECT_EQ(span.at("kind"), json::value(2));
  // Times are decimal strings of nanoseconds since 1970 (after 2020, end not before start).
  const std::string start(span.at("startTimeUnixNano").as_string()), end(span.at("endTimeUnixNano").as_string());
  ASSERT_EQ(start.find_first_not_of("0123456789"), std::string::npos);
  ASSERT_EQ(end.find_first_not_of("0123456789"), std::string::npos);
  EXPECT_GT(std::stoull(start), 1577836800000000000ull);
  EXPECT_LE(std::stoull(start), std::stoull(end));
  EXPECT_EQ(rs.at_pointer("/scopeSpans/0/spans").as_array().size(), 2u);
  EXPECT_EQ(span.at("attributes").at(0).at("value").at("stringValue"), json::value("echo"));
  EXPECT_EQ(span.at("status").at("code"), json::value(1));
}

TEST(Otlp, SendsEveryQueuedSpanOnceInOrderInPostsOfAtMostABatch) {
  test::TestHttpServer collector;  // /status/200/v1/traces answers 200
  trace::OtlpConfig cfg;
  cfg.endpoint = collector.url("/status/200");
  cfg.batch = 4;
  cfg.interval = std::chrono::hours(1);  // only a full batch and flush() wake the exporter
  constexpr int kSpans = 18;
  {
    trace::OtlpExporter e(cfg);
    for (int i = 0; i < kSpans; ++i) e.export_span("{\"name\":\"s" + std::to_string(i) + "\"}");
    e.flush();
    EXPECT_EQ(e.sent(), static_cast<uint64_t>(kSpans));
    EXPECT_EQ(e.dropped(), 0u);
  }
  std::vector<std::string> names;
  size_t posts = 0;
  for (const auto& r : collector.requests()) {
    ASSERT_EQ(r.target, "/status/200/v1/traces");
    ++posts;
    const auto spans = json::parse(r.body).at_pointer("/resourceSpans/0/scopeSpans/0/spans").as_array();
    EXPECT_GE(spans.size(), 1u);
    EXPECT_LE(spans.size(), cfg.batch) << r.body;
    for (const auto& sp : spans) names.emplace_back(sp.at("name").as_string());
  }
  std::vector<std::string> want;
  for (int i = 0; i < kSpans; ++i) want.push_back("s" + std::to_string(i));
  EXPECT_EQ(names, want);
  EXPECT_GE(posts, (kSpans + cfg.batch - 1) / cfg.batch);
}

TEST(Otlp, SpansFromManyThreadsAreAllSentEachThreadsInItsOrder) {
  test::TestHttpServer collector;
  trace::OtlpConfig cfg;
  cfg.endpoint = collector.url("/status/200");
  cfg.batch = 7;  // full buffers and partly filled ones both occur
  cfg.interval = std::chrono::hours(1);
  constexpr int kThreads = 12, kSpans = 100;  // more threads than buffers: some share one
  {
    trace::OtlpExporter e(cfg);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&e, t] {
        for (int i = 0; i < kSpans; ++i) e.export_span(fmt::format("{{\"name\":\"t{}\",\"i\":{}}}", t, i));
      });
    }
    for (auto& th : threads) th.join();
    e.flush();
    EXPECT_EQ(e.sent(), static_cast<uint64_t>(kThreads * kSpans));
    EXPECT_EQ(e.dropped(), 0u);
  }
  std::map<std::string, std::vector<int64_t>> seen;
  for (const auto& r : collector.requests()) {
    const auto spans = json::parse(r.body).at_pointer("/resourceSpans/0/scopeSpans/0/spans").as_array();
    EXPECT_GE(spans.size(), 1u);
    EXPECT_LE(spans.size(), cfg.batch);
    for (const auto& sp : spans) seen[std::string(sp.at("name").as_string())].push_back(sp.at("i").as_int64());
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads));
  std::vector<int64_t> want(kSpans);
  for (int i = 0; i < kSpans; ++i) want[i] = i;
  for (const auto& [name, order] : seen) EXPECT_EQ(order, want) << name;
}

// A quiet thread's partly filled buffer goes out within the interval even while other threads
// keep filling batches (each full batch wakes the exporter; the interval must not restart).
TEST(Otlp, APartlyFilledBufferIsSentEveryIntervalUnderSteadyTraffic) {
  test::TestHttpServer collector;
  trace::OtlpConfig cfg;
  cfg.endpoint = collector.url("/status/200");
  cfg.batch = 2;
  cfg.interval = std::chrono::milliseconds(50);
  trace::OtlpExporter e(cfg);
  auto quiet_span_sent = [&] {
    for (const auto& r : collector.requests()) {
      if (r.body.find("\"quiet\"") != std::string::npos) return true;
    }
    return false;
  };
  // Two new threads: consecutive thread numbers, so two different buffers.
  std::thread([&] { e.export_span(R"({"name":"quiet"})"); }).join();
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop) {  // a full batch every ~2 ms, far more often than the interval
      e.export_span(R"({"name":"busy"})");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool sent = false;
  while (!(sent = quiet_span_sent()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  busy.join();
  EXPECT_TRUE(sent) << "the quiet thread's span waited 20 s behind steady traffic";
}

TEST(Otlp, AFullQueueAndAFailingCollectorDropSpansAndCountThem) {
  test::TestHttpServer collector;  // /status/500/v1/traces answers 500
  trace::OtlpConfig cfg;
  cfg.endpoint = collector.url("/status/500");
  cfg.batch = 1000;  // no batch fills up: only flush() wakes the exporter
  cfg.max_queue = 10;
  cfg.interval = std::chrono::hours(1);
  trace::OtlpExporter e(cfg);
  for (int i = 0; i < 25; ++i) e.export_span("{}");
  EXPECT_EQ(e.dropped(), 15u);  // beyond max_queue, at once
  e.flush();
  // The 10 queued spans went in one post, which failed: dropped too, none sent.
  EXPECT_EQ(e.sent(), 0u);
  EXPECT_EQ(e.dropped(), 25u);
  const auto posts = collector.requests();
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].target, "/status/500/v1/traces");
  EXPECT_EQ(json::parse(posts[0].body).at_pointer("/resourceSpans/0/scopeSpans/0/spans").as_array().size(), 10u);
}

TEST(Logs, JsonLinesCarryTheTraceAndFields) {
  std::ostringstream out;
  init_logging(LogLevel::Info, LogFormat::Json);
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto& logger = log();
  auto saved = logger.sinks();
  logger.sinks() = {sink};
  // init_logging set the formatter on the old sink; give the new one the same.
  init_logging(LogLevel::Info, LogFormat::Json);
  auto ctx = *trace::TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  {
    trace::Scope scope(&ctx);
    const trace::LogField values[] = {{"tool", "echo"}, {"ms", "12"}};
    trace::LogFields fields(values);
    log().info("a \"quoted\"\nline");
  }
  log().info("no trace");
  logger.flush();
  logger.sinks() = saved;
  init_logging(LogLevel::Info, LogFormat::Text);
  std::istringstream in(out.str());
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  json::value a = json::parse(first), b = json::parse(second);
  EXPECT_EQ(a.at("level"), json::value("info"));
  EXPECT_EQ(a.at("msg"), json::value("a \"quoted\"\nline"));
  EXPECT_EQ(a.at("trace_id"), json::value("4bf92f3577b34da6a3ce929d0e0e4736"));
  EXPECT_EQ(a.at("span_id"), json::value("00f067aa0ba902b7"));
  EXPECT_EQ(a.at("tool"), json::value("echo"));
  EXPECT_EQ(a.at("ms"), json::value(12));
  EXPECT_FALSE(b.as_object().contains("trace_id"));
  EXPECT_TRUE(a.at("time").as_string().ends_with("Z"));
}

// Points the process's stderr (where init_logging's sink writes) at a temporary file while it
// lives; text() is what was written to it so far.
class StderrToFile {
 public:
  StderrToFile() {
    char path[] = "/tmp/wm-log-XXXXXX";
    fd_ = mkstemp(path);
    path_ = path;
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrToFile() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    unlink(path_.c_str());
  }
  std::string text() const {
    std::ifstream f(path_);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }

 private:
  int fd_ = -1, saved_ = -1;
  std::string path_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The stderr sink batches lines below warn: every line of every thread arrives whole, once, in
// each thread's order, and nothing is lost at flush().
TEST(Logs, LinesFromManyThreadsArriveWholeAndInOrder) {
  init_logging(LogLevel::Info, LogFormat::Json);
  StderrToFile err;
  constexpr int kThreads = 4, kLines = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) {
        const std::string thread = std::to_string(t), seq = std::to_string(i);
        const trace::LogField values[] = {{"thread", thread}, {"seq", seq}};
        trace::LogFields fields(values);
        log().info("line {} of thread {} {}", i, t, std::string(i % 97, 'x'));
      }
    });
  }
  for (auto& th : threads) th.join();
  log().flush();
  std::vector<int> next(kThreads, 0);
  int count = 0;
  for (const auto& line : lines_of(err.text())) {
    json::value v = json::parse(line);  // throws on a torn or interleaved line
    ASSERT_TRUE(v.at("thread").is_int64() && v.at("seq").is_int64()) << line;
    const int t = static_cast<int>(v.at("thread").as_int64());
    EXPECT_EQ(v.at("seq").as_int64(), next[t]) << line;
    next[t] = static_cast<int>(v.at("seq").as_int64()) + 1;
    ++count;
  }
  EXPECT_EQ(count, kThreads * kLines);
  init_logging(LogLevel::Info, LogFormat::Text);
}

// Threads log into shards of their own, merged back by sequence number: a line logged after
// another thread's line returned is written after it (two threads taking turns, so each line
// happens before the next; a per-shard write would put each thread's turns together).
TEST(Logs, LinesKeepTheirOrderAcrossThreads) {
  init_logging(LogLevel::Info, LogFormat::Text);
  StderrToFile err;
  constexpr int kTurns = 2000;
  std::atomic<int> turn{0};
  auto player = [&turn](int me) {
    for (int i = me; i < kTurns; i += 2) {
      while (turn.load(std::memory_order_acquire) != i) std::this_thread::yield();
      log().info("turn {}", i);
      turn.store(i + 1, std::memory_order_release);
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  log().flush();
  auto lines = lines_of(err.text());
  ASSERT_EQ(lines.size(), size_t(kTurns)) << err.text().substr(0, 2000);
  for (int i = 0; i < kTurns; ++i) {
    ASSERT_NE(lines[i].find(fmt::format("info  turn {}", i)), std::string::npos) << i << ": " << lines[i];
    ASSERT_EQ(lines[i].substr(lines[i].size() - std::to_string(i).size() - 1), " " + std::to_string(i)) << lines[i];
  }
}

// A warn line is written before log() returns, after the info lines logged before it; an info
// line is written within the batch window without anybody flushing.
TEST(Logs, WarningsAreWrittenAtOnceAndInfoLinesSoon) {
  init_logging(LogLevel::Info, LogFormat::Text);
  StderrToFile err;
  log().info("first, batched");
  log().warn("second, at once");
  auto lines = lines_of(err.text());
  ASSERT_EQ(lines.size(), 2u) << err.text();
  EXPECT_NE(lines[0].find("info  first, batched"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("warning second, at once"), std::string::npos) << lines[1];
  log().info("third, nobody flushes");
  for (int i = 0; i < 5000 && lines_of(err.text()).size() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  lines = lines_of(err.text());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[2].find("third, nobody flushes"), std::string::npos);
  // Not a terminal: no colour codes.
  EXPECT_EQ(err.text().find('\033'), std::string::npos);
}

TEST(Text, JsonStringsAreValid) {
  std::string out;
  append_json_string(out, std::string("ok \x01 \xff \xc3\xa9 \"\\", 12));
  json::value v = json::parse(out);
  EXPECT_EQ(v.as_string(), "ok \x01 \xef\xbf\xbd \xc3\xa9 \"\\");
}

TEST(Health, ReadinessReportsEveryFailingCheck) {
  health::Readiness r;
  EXPECT_TRUE(r.check().ready);
  bool db_up = false;
  r.add("plugins", [] { return std::optional<std::string>(); });
  r.add("database", [&db_up]() -> std::optional<std::string> {
    if (db_up) return std::nullopt;
    return "connection refused";
  });
  auto rep = r.check();
  EXPECT_FALSE(rep.ready);
  ASSERT_EQ(rep.checks.size(), 2u);
  EXPECT_EQ(rep.checks[0].name, "database");
  EXPECT_EQ(rep.checks[0].reason, "connection refused");
  EXPECT_TRUE(rep.checks[1].ok);
  db_up = true;
  EXPECT_TRUE(r.check().ready);
  // Facts are reported beside the checks, read at each check, and go when removed.
  uint64_t revision = 7;
  r.add_fact("revision", [&revision] { return revision; });
  revision = 8;
  auto with_fact = r.check();
  ASSERT_EQ(with_fact.facts.size(), 1u);
  EXPECT_EQ(with_fact.facts[0].first, "revision");
  EXPECT_EQ(with_fact.facts[0].second, 8u);
  r.remove_fact("revision");
  EXPECT_TRUE(r.check().facts.empty());
}

TEST(EventFeed, ReplaysHistoryThenStreamsAndDropsGoneClients) {
  events::Feed feed;
  EXPECT_FALSE(feed.wants_calls());
  feed.publish("admin", R"({"n":1})");
  feed.publish("admin", R"({"n":2})");
  std::vector<std::string> got;
  uint64_t token = feed.subscribe([&got](std::string c) {
    got.push_back(std::move(c));
    return true;
  }, 1);
  ASSERT_NE(token, 0u);
  EXPECT_TRUE(feed.wants_calls());
  ASSERT_EQ(got.size(), 1u);  // only the event after id 1
  EXPECT_EQ(got[0], "id: 2\nevent: admin\ndata: {\"n\":2}\n\n");
  feed.publish("call", R"({"n":3})");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], "id: 3\nevent: call\ndata: {\"n\":3}\n\n");
  // A subscriber whose client is gone (push returns false) is dropped at the next event.
  bool gone = false;
  feed.subscribe([&gone](std::string) { return !gone; });
  gone = true;
  feed.publish("call", "{}");
  feed.unsubscribe(token);
  EXPECT_FALSE(feed.wants_calls());
}
