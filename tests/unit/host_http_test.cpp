// http_request, http_status_code and http_headers (extism-abi.md §5) through http.wasm
// (tests/plugins/README.md) against the loopback TestHttpServer. No traffic leaves 127.0.0.1.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/text.hpp"
#include "http_server.hpp"
#include "plugin_helpers.hpp"

using namespace wasimancer;
using namespace wasimancer::host;
using namespace wasimancer::test;
using namespace std::chrono_literals;

namespace {

// The value of request header `name` (case-insensitive), or nullopt.
std::optional<std::string> header(const RecordedRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (ascii_lower(k) == ascii_lower(name)) return v;
  return std::nullopt;
}

const char kTodo[] = "{\n  \"userId\": 1,\n  \"id\": 1,\n  \"title\": \"delectus aut autem\",\n  \"completed\": false\n}";

// http.wasm allowed to reach the test server.
PluginOptions loopback() {
  PluginOptions o;
  o.allowed_hosts = {"127.0.0.1"};
  o.limits.timeout_ms = 10000;
  return o;
}

class Http : public PluginTest {
 protected:
  void SetUp() override { load("http", loopback()); }
  TestHttpServer srv;
};

std::unique_ptr<PluginInstance> instance_with(PluginOptions o) { return make_instance(load_plugin("http", std::move(o))); }

}  // namespace

TEST_F(Http, GetReturnsTheBodyAndSendsThePluginsHeaders) {
  EXPECT_OUT(inst->call("http_get", srv.url("/todos/1")), kTodo);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/todos/1");
  EXPECT_EQ(header(reqs[0], "accept").value_or("<none>"), "*/*");
  EXPECT_EQ(header(reqs[0], "x-wasimancer-test").value_or("<none>"), "1");
  EXPECT_EQ(reqs[0].body, "");
}

TEST_F(Http, GetKeepsTheQueryString) {
  auto r = inst->call("http_get", srv.url("/request?a=1&b=two"));
  ASSERT_TRUE(r.ok()) << describe(r);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/request?a=1&b=two");
  EXPECT_NE(r.output.find("\"target\":\"/request?a=1&b=two\""), std::string::npos) << r.output;
}

TEST_F(Http, EmptyBodyIsEmptyOutput) { EXPECT_OUT(inst->call("http_get", srv.url("/empty")), ""); }

TEST_F(Http, LargeBody) {
  auto r = inst->call("http_get", srv.url("/bytes/300000"));
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.output, std::string(300000, 'a'));
}

TEST_F(Http, ErrorStatusesAreNotErrors) {
  EXPECT_OUT(inst->call("http_get", srv.url("/status/404")), "status 404");
  EXPECT_OUT(inst->call("http_get", srv.url("/status/500")), "status 500");
  EXPECT_OUT(inst->call("http_get", srv.url("/no/such/route")), "not found");
}

TEST_F(Http, StatusCode) {
  EXPECT_OUT(inst->call("http_status", srv.url("/todos/1")), "200");
  EXPECT_OUT(inst->call("http_status", srv.url("/status/404")), "404");
  EXPECT_OUT(inst->call("http_status", srv.url("/status/503")), "503");
  EXPECT_OUT(inst->call("http_status", srv.url("/status/201")), "201");
}

TEST_F(Http, RedirectsAreFollowed) {
  EXPECT_OUT(inst->call("http_status", srv.url("/redirect?to=/todos/1")), "200");
  EXPECT_OUT(inst->call("http_get", srv.url("/redirect?to=/todos/1")), kTodo);
}

TEST_F(Http, PostSendsTheBodyAndContentType) {
  EXPECT_OUT(inst->call("http_post", srv.url("/echo") + "\nhello body\nwith two lines"), "hello body\nwith two lines");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/echo");
  EXPECT_EQ(reqs[0].body, "hello body\nwith two lines");
  EXPECT_EQ(header(reqs[0], "content-type").value_or("<none>"), "text/plain");
}

TEST_F(Http, PostBinaryBody) {
  std::string body;
  for (int i = 0; i < 256; ++i) body.push_back(static_cast<char>(i));
  body += std::string(70000, 'z');  // larger than one 64 KiB chunk
  EXPECT_OUT(inst->call("http_post", srv.url("/echo") + "\n" + body), body);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, body);
}

TEST_F(Http, PostWithoutBody) {
  // No newline, and a newline with nothing after it: body handle 0, a POST with no body.
  EXPECT_OUT(inst->call("http_post", srv.url("/echo")), "");
  EXPECT_OUT(inst->call("http_post", srv.url("/echo") + "\n"), "");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.body, "");
  }
}

TEST_F(Http, ResponseHeadersLowerCased) {
  auto r = inst->call("http_headers", srv.url("/headers"));
  ASSERT_TRUE(r.ok()) << describe(r);
  ASSERT_FALSE(r.output.empty());
  EXPECT_EQ(r.output.front(), '{');
  EXPECT_EQ(r.output.back(), '}');
  EXPECT_NE(r.output.find("\"x-test-header\":\"hello\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"content-type\":\"text/html; charset=utf-8\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("X-Test-Header"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Content-Type"), std::string::npos) << r.output;
}

TEST_F(Http, ResponseHeadersOff) {
  PluginOptions o = loopback();
  o.http_response_headers = false;
  auto i = instance_with(o);
  ASSERT_TRUE(i);
  EXPECT_OUT(i->call("http_headers", srv.url("/headers")), "{}");
  // The request itself was still made.
  EXPECT_EQ(srv.requests().size(), 1u);
}

TEST_F(Http, MethodNullAndHeadersNullIsAPlainGet) {
  EXPECT_OUT(inst->call("http_method_null", srv.url("/todos/1")), kTodo);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_FALSE(header(reqs[0], "x-wasimancer-test").has_value());
  EXPECT_FALSE(header(reqs[0], "content-type").has_value());
}

TEST_F(Http, LowerCaseMethodIsUpperCased) {
  EXPECT_OUT(inst->call("http_lower_method", srv.url("/echo")), "200");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
}

TEST_F(Http, StatusIsKeptPerInstanceAcrossCalls) {
  EXPECT_OUT(inst->call("http_status_before", ""), "0");
  EXPECT_OUT(inst->call("http_status", srv.url("/status/404")), "404");
  // The next call (no request) still sees the last status of this instance.
  EXPECT_OUT(inst->call("http_status_before", ""), "404");
  EXPECT_OUT(inst->call("http_status", srv.url("/status/201")), "201");
  EXPECT_OUT(inst->call("http_status_before", ""), "201");
  // Another instance of the same plugin has its own status.
  auto other = make_instance(plugin);
  ASSERT_TRUE(other);
  EXPECT_OUT(other->call("http_status_before", ""), "0");
}

TEST_F(Http, BadInputIsThePluginsError) {
  EXPECT_PLUGIN_ERR(inst->call("http_get", ""), "http: input must be a URL of 1..8192 bytes");
  EXPECT_PLUGIN_ERR(inst->call("http_status", std::string(8193, 'h')), "http: input must be a URL of 1..8192 bytes");
  EXPECT_TRUE(srv.requests().empty());
}

TEST_F(Http, DeniedHostIsAHostErrorNamingTheUrl) {
  std::string url = srv.url("/todos/1");
  for (auto hosts : {std::vector<std::string>{}, std::vector<std::string>{"*.example.com"},
                     std::vector<std::string>{"127.0.0.2"}}) {
    PluginOptions o;
    o.allowed_hosts = hosts;
    auto i = instance_with(o);
    ASSERT_TRUE(i);
    for (const char* fn : {"http_get", "http_status", "http_method_null", "http_lower_method", "http_headers"}) {
      SCOPED_TRACE(fn);
      EXPECT_HOST_ERR(i->call(fn, url), "HTTP request to " + url + " is not allowed");
    }
    // A trap, not a status: no request was made and the status is unchanged.
    EXPECT_OUT(i->call("http_status_before", ""), "0");
    EXPECT_TRUE(i->reusable());
  }
  auto denied = instance_with(PluginOptions{});
  ASSERT_TRUE(denied);
  EXPECT_HOST_ERR(denied->call("http_post", url + "\nbody"), "HTTP request to " + url + " is not allowed");
  EXPECT_TRUE(srv.requests().empty());
}

TEST_F(Http, WildcardDoesNotReachLoopback) {
  PluginOptions o;
  o.allowed_hosts = {"*"};
  auto i = instance_with(o);
  ASSERT_TRUE(i);
  for (std::string url : {srv.url("/todos/1"), "http://localhost:" + std::to_string(srv.port()) + "/todos/1"}) {
    SCOPED_TRACE(url);
    auto r = i->call("http_get", url);
    EXPECT_HOST_ERR(r, "not allowed");
    EXPECT_NE(r.error->message.find("allowedHosts"), std::string::npos) << describe(r);
  }
  EXPECT_TRUE(srv.requests().empty());
  // Named explicitly next to the wildcard, loopback is fine.
  PluginOptions named;
  named.allowed_hosts = {"*", "127.0.0.1"};
  auto ok = instance_with(named);
  ASSERT_TRUE(ok);
  EXPECT_OUT(ok->call("http_get", srv.url("/todos/1")), kTodo);
}

TEST_F(Http, ResponseLargerThanTheLimitTraps) {
  PluginOptions o = loopback();
  o.limits.max_http_response_bytes = 1000;
  auto i = instance_with(o);
  ASSERT_TRUE(i);
  EXPECT_HOST_ERR(i->call("http_get", srv.url("/bytes/5000")), "1000");
  EXPECT_OUT(i->call("http_get", srv.url("/bytes/1000")), std::string(1000, 'a'));
}

TEST_F(Http, ResponseLargerThanKernelMemoryIsOom) {
  PluginOptions o = loopback();
  o.limits.max_pages = 4;  // 256 KiB of kernel memory
  auto i = instance_with(o);
  ASSERT_TRUE(i);
  EXPECT_OOM(i->call("http_get", srv.url("/bytes/300000")));
}

TEST_F(Http, TimeoutBoundsTheRequest) {
  // The call's timeout overrides the plugin's 10 s; the server's destructor interrupts the
  // handler still sleeping.
  CallOptions co;
  co.timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = inst->call("http_get", srv.url("/slow/60000"), co);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 9s);  // before the plugin's 10 s, let alone the 60 s answer
  EXPECT_TIMEOUT(r);
}
